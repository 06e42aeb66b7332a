#!/usr/bin/env bash
# Validates the deployment files under deploy/ (or the files given), offline:
#   *.yaml, *.yml — Kubernetes objects against the API schemas bundled in the PyPI package
#       kubernetes-validate (pinned below), strictly (an unknown field is an error), for the
#       oldest Kubernetes the manifests support and the newest the package knows;
#   *job-definition*.json, *submit-job*.json — AWS Batch RegisterJobDefinition / SubmitJob
#       input, against botocore's service model of Batch (its ParamValidator: unknown keys,
#       types, required members).
# Installs both with pip when missing (quiet; nothing when already there). Prints one line
# when every file is valid; otherwise the validator's message on stderr and exit 1.
# Usage: scripts/validate-deploy.sh [FILE…]
set -euo pipefail
cd "$(dirname "$0")/.."
KV_VERSION=1.37.0
# The oldest Kubernetes with what the Job uses (backoffLimitPerIndex, podFailurePolicy's
# FailIndex), and the newest the package bundles.
KUBE_VERSIONS=(1.29.0 "$KV_VERSION")

installed() {
  python3 - "$KV_VERSION" <<'PY' 2>/dev/null
import sys
import botocore.validate, yaml
from kubernetes_validate.version import __version__
sys.exit(__version__ != sys.argv[1])
PY
}
# Under a lock: the tests run this script in parallel, and a package half written by pip
# imports (its version file comes before the rest).
exec 9>"${TMPDIR:-/tmp}/ferry-validate-deploy.lock"
flock 9
if ! installed; then
  echo "validate-deploy: installing kubernetes-validate==$KV_VERSION and botocore (pip)" >&2
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check "kubernetes-validate==$KV_VERSION" botocore >&2
  installed || { echo "validate-deploy: kubernetes-validate $KV_VERSION or botocore did not install" >&2; exit 1; }
fi
flock -u 9
exec 9>&-

files=("$@")
[ ${#files[@]} -gt 0 ] || mapfile -t files < <(find deploy -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) | sort)
status=0
for f in "${files[@]}"; do
  case "$f" in
    *.yaml | *.yml)
      for k in "${KUBE_VERSIONS[@]}"; do
        # kubernetes-validate prints its findings on stdout: they go to stderr with ours.
        if ! python3 -m kubernetes_validate --strict --quiet -k "$k" "$f" >&2; then
          echo "validate-deploy: $f: invalid Kubernetes object (Kubernetes $k schemas, strict)" >&2
          status=1
          break
        fi
      done
      ;;
    *job-definition*.json | *submit-job*.json)
      python3 - "$f" <<'PY' || status=1
import json, sys
import botocore.session
from botocore.validate import ParamValidator
path = sys.argv[1]
op = "RegisterJobDefinition" if "job-definition" in path else "SubmitJob"
try:
    params = json.load(open(path))
except ValueError as e:
    sys.exit(f"validate-deploy: {path}: not JSON: {e}")
shape = botocore.session.get_session().get_service_model("batch").operation_model(op).input_shape
report = ParamValidator().validate(params, shape)
if report.has_errors():
    sys.exit(f"validate-deploy: {path}: invalid AWS Batch {op} input:\n{report.generate_report()}")
PY
      ;;
    *)
      echo "validate-deploy: $f: no validator for this file (a Kubernetes *.yaml, an AWS Batch *job-definition*.json or *submit-job*.json)" >&2
      status=1
      ;;
  esac
done
[ "$status" = 0 ] && echo "validate-deploy: ${#files[@]} file(s) valid (kubernetes-validate $KV_VERSION: Kubernetes ${KUBE_VERSIONS[*]}; botocore $(python3 -c 'import botocore; print(botocore.__version__)'): AWS Batch)" >&2
exit "$status"
