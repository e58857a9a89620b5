"""Email over SMTP (aiosmtplib) and IMAP (aioimaplib), and the console's outbox and mailbox in memory."""
