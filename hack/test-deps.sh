#!/usr/bin/env bash
# The system programs the tests need beyond Go, Python and Node.js (make test
# and make test-e2e run this first; make demo runs it for what the demo uses).
#
#	hack/test-deps.sh              everything the tests need
#	hack/test-deps.sh curl unshare only these programs
#
# When all are present it only looks them up (no apt, a few milliseconds).
# Otherwise it installs the missing Debian packages with apt-get when it can
# (as root, or through passwordless sudo), and when it cannot it stops at once,
# printing the one command to run.
set -euo pipefail

# Program (or check) -> Debian package.
declare -A pkg=(
	[make]=make [git]=git
	[unshare]=util-linux # the dev cluster's Kueue (private mount namespace), network-namespaced suites
	[ip]=iproute2        # loopback in those network namespaces
	[curl]=curl
	[promtool]=prometheus   # the rules' unit tests (go test ./rules)
	[prometheus]=prometheus # the observability e2e scrapes the dev cluster with a real Prometheus
	[chromium]=chromium     # the console's browser e2e (playwright-core drives it)
	[python3-venv]=python3-venv # the Python SDK's tests run in a venv (Debian splits venv and ensurepip off)
	# The dev cluster's process runtime (real MPI): sshd and ssh in pods,
	# and the MPI implementations its runtime profiles are built from.
	[sshd]=openssh-server [ssh]=openssh-client
	[mpirun.openmpi]=openmpi-bin [mpicc.openmpi]=libopenmpi-dev
	[mpirun.mpich]=mpich [mpicc.mpich]=libmpich-dev
	[gcc]=gcc
	[python3-mpi4py]=python3-mpi4py [python3-numpy]=python3-numpy [python3-yaml]=python3-yaml # the training example's profile
)
all=(make git unshare ip curl promtool prometheus chromium python3-venv sshd ssh mpirun.openmpi mpicc.openmpi mpirun.mpich mpicc.mpich gcc python3-mpi4py python3-numpy python3-yaml)

want=("$@")
((${#want[@]})) || want=("${all[@]}")

present() {
	case "$1" in
	chromium) # what test/e2e/console looks for: $CHROMIUM, else chromium or chromium-browser
		[ -n "${CHROMIUM:-}" ] && [ -x "$CHROMIUM" ] && return 0
		command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 ;;
	python3-venv) # what test/framework.PythonVenv runs: $PYTHON, else python3
		"${PYTHON:-python3}" -c 'import venv, ensurepip' >/dev/null 2>&1 ;;
	sshd) [ -x /usr/sbin/sshd ] ;;
	python3-mpi4py | python3-numpy | python3-yaml) # Debian's own python3, which the runtime profile uses
		/usr/bin/python3 -c "import ${1#python3-}" >/dev/null 2>&1 ;;
	*) command -v "$1" >/dev/null 2>&1 ;;
	esac
}

missing=() pkgs=()
for t in "${want[@]}"; do
	[ -n "${pkg[$t]:-}" ] || { echo "test-deps: unknown program $t (known: ${all[*]})" >&2; exit 2; }
	present "$t" && continue
	missing+=("$t")
	[[ " ${pkgs[*]} " == *" ${pkg[$t]} "* ]] || pkgs+=("${pkg[$t]}")
done
((${#missing[@]})) || exit 0

here=$(cd "$(dirname "$0")" && pwd)
if ! command -v apt-get >/dev/null 2>&1; then
	echo "test-deps: missing ${missing[*]}, and there is no apt-get here: install them with your package manager (Debian packages: ${pkgs[*]})" >&2
	exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
	if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
		sudo=(sudo)
	else
		echo "test-deps: missing ${missing[*]} (Debian packages: ${pkgs[*]}); install them with:" >&2
		echo "  sudo $here/test-deps.sh" >&2
		exit 1
	fi
fi

echo "test-deps: missing ${missing[*]}; installing ${pkgs[*]} with apt-get"
start=$SECONDS
"${sudo[@]}" apt-get update -qq
# Debian's prometheus package would start a server on every interface: keep
# package services from starting while it installs (the tests start their own,
# on 127.0.0.1). An existing policy-rc.d (container images ship one) is kept.
guard=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
	guard=/usr/sbin/policy-rc.d
	trap '"${sudo[@]}" rm -f "$guard"' EXIT
	printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$guard" >/dev/null
	"${sudo[@]}" chmod +x "$guard"
fi
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}"

still=()
for t in "${missing[@]}"; do present "$t" || still+=("$t"); done
if ((${#still[@]})); then
	echo "test-deps: still missing after apt-get install: ${still[*]}" >&2
	exit 1
fi
echo "test-deps: installed ${pkgs[*]} in $((SECONDS - start)) s"
