"""One module per broker, each behind the small ``Backend`` protocol in ``base``.

Broker client libraries (boto3, stomp.py) are imported inside these modules only, and these modules are
imported only when a command needs them, so ``msgctl --help`` stays fast.
"""
