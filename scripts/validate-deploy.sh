#!/usr/bin/env bash
# Validates the deployment files under deploy/ (or the files given) offline:
#   *.yaml — Kubernetes objects against the API schemas bundled in the PyPI package
#            kubernetes-validate (strict: unknown fields are errors), installed when missing;
#   aws-batch/job-definition*.json, aws-batch/submit-job*.json — against botocore's service
#            model of AWS Batch (RegisterJobDefinition / SubmitJob input shapes).
# Exit 1 with the validator's message on the first invalid file.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v kubernetes-validate >/dev/null || ! python3 -c 'import botocore' 2>/dev/null; then
  pip install -q kubernetes-validate botocore >/dev/null 2>&1 || pip install kubernetes-validate botocore
fi
files=("$@")
[ ${#files[@]} -gt 0 ] || mapfile -t files < <(find deploy -name '*.yaml' -o -name '*.json' | sort)
status=0
for f in "${files[@]}"; do
  case "$f" in
    *.yaml|*.yml)
      kubernetes-validate --strict --quiet "$f" || { echo "validate-deploy: $f: invalid Kubernetes object" >&2; status=1; } ;;
    *job-definition*.json|*submit-job*.json)
      python3 - "$f" <<'PY' || status=1
import json, sys, botocore.session
from botocore.validate import ParamValidator
path = sys.argv[1]
op = "RegisterJobDefinition" if "job-definition" in path else "SubmitJob"
model = botocore.session.get_session().get_service_model("batch").operation_model(op)
report = ParamValidator().validate(json.load(open(path)), model.input_shape)
if report.has_errors():
    sys.exit(f"validate-deploy: {path}: invalid AWS Batch {op} input:\n{report.generate_report()}")
PY
      ;;
  esac
done
[ "$status" = 0 ] && echo "validate-deploy: ${#files[@]} file(s) valid" >&2
exit "$status"
