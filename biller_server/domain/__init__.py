"""The domain: bills, payments, receipts and confirmations. Every rule about money and state lives here."""
