#!/usr/bin/env bash
# Submit an MPIJob from a manifest, wait for it to finish, and on failure
# print every pod's log and the job's description. The script exits with
# kubectl-odh's exit code: 0 succeeded, 1 failed, 2 invalid manifest or
# refused by admission (e.g. over quota), 3 timed out or still queued,
# 4 not found or forbidden.
#
# Usage: cicd-pipeline.sh JOB.yaml [TIMEOUT]
#   TIMEOUT   how long to wait, e.g. 30m or 2h (default 1h)
# Environment:
#   KUBECTL_ODH   the CLI to run (default: kubectl-odh on PATH; "kubectl odh" works too)
#   NAMESPACE     namespace of the job when the manifest has none (default: the kubeconfig's)
#   KUBECONFIG    the usual
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
	echo "usage: $0 JOB.yaml [TIMEOUT]" >&2
	exit 2
fi
job_file=$1
timeout=${2:-1h}
read -r -a odh <<<"${KUBECTL_ODH:-kubectl-odh}"
ns_args=()
if [[ -n ${NAMESPACE:-} ]]; then
	ns_args=(-n "$NAMESPACE")
fi

# Submit. "|| rc=$?" keeps set -e from exiting before we can report.
rc=0
name=$("${odh[@]}" mpijob create -f "$job_file" -o name ${ns_args[@]+"${ns_args[@]}"}) || rc=$?
if ((rc != 0)); then
	echo "submitting $job_file failed (exit $rc)" >&2
	exit "$rc"
fi
name=${name#mpijob.kubeflow.org/}
# The job's namespace: the manifest's, else NAMESPACE, else the kubeconfig's.
job_ns=$(sed -n 's/^  namespace: *//p' "$job_file" | head -n 1 | tr -d '"'"'" || true)
if [[ -n $job_ns ]]; then
	ns_args=(-n "$job_ns")
fi
echo "submitted mpijob $name; waiting up to $timeout"

rc=0
"${odh[@]}" mpijob wait "$name" --for=completion --timeout="$timeout" ${ns_args[@]+"${ns_args[@]}"} || rc=$?
case $rc in
0)
	echo "mpijob $name succeeded"
	exit 0
	;;
1) echo "mpijob $name failed" >&2 ;;
3) echo "mpijob $name did not finish within $timeout" >&2 ;;
*) exit "$rc" ;;
esac

# Report, tolerating errors: logs may be gone or unavailable.
echo "----- logs of mpijob $name -----"
"${odh[@]}" mpijob logs "$name" --all ${ns_args[@]+"${ns_args[@]}"} || echo "(logs unavailable)" >&2
echo "----- description of mpijob $name -----"
"${odh[@]}" mpijob describe "$name" ${ns_args[@]+"${ns_args[@]}"} || echo "(describe failed)" >&2
exit "$rc"
