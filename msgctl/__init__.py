"""msgctl: inspect and operate message channels on Amazon SQS/SNS and ActiveMQ."""

__version__ = "0.1.0"
