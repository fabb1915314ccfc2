"""Powertools observability objects, one of each per execution environment.

Service name and metrics namespace come from ``POWERTOOLS_SERVICE_NAME`` and
``POWERTOOLS_METRICS_NAMESPACE`` (set in the template's Globals).

The tracer patches only botocore (Secrets Manager, S3: the AWS calls worth a subsegment). Patching
every library it knows (its default) imports each of them at init and wraps every database statement:
the SQLAlchemy patch compiles each statement again on every execute, sampled or not.
"""

from aws_lambda_powertools import Logger, Metrics, Tracer

TRACED_MODULES = ("botocore",)

logger = Logger()
tracer = Tracer(patch_modules=TRACED_MODULES)
metrics = Metrics()
