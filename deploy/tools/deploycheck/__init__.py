"""The offline deployment checks, one module per concern; deploy/tools/deploy_check.py runs
them (`make deploy-check`) and tests/deploy tests each."""
