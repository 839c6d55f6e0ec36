#!/usr/bin/env bash
# Side by side: tapegrad (gonum and OpenBLAS builds), PyTorch and gorgonia
# on the reference configurations A-D, each against its GEMM-only floor,
# measured in one run; writes docs/performance.md.
#
# Usage, from anywhere in the repository:
#
#   bench/peers/run.sh
#
# Environment (all optional):
#   THREADS    thread counts, one section each (default "1"; "1 2" adds a
#              two-thread section)
#   ROUNDS     rounds at least; each runs every harness once, in a rotated
#              order (default 5). More follow while some harness has fewer
#              than 3 runs that had their cores (a shared machine), up to
#              MAX_ROUNDS (default 12) and TIME_LIMIT seconds per thread
#              count (default 420). Figures are medians over the rounds.
#   BENCHTIME  time per measurement, in seconds with an s (default 0.3s)
#   PROFILE    1 (default) profiles BenchmarkRef per configuration; 0 skips
#   QUIET_WAIT seconds to wait at most, before each measurement, for enough
#              idle CPUs (default 20; 0 never waits); QUIET_BUDGET caps the
#              waiting over the whole run (default 150)
#   OUT        the report (default docs/performance.md)
#   PYTHON     an interpreter with torch (default /usr/bin/python3; on
#              Debian: apt-get install -y python3-torch python3-numpy)
#
# Raw outputs stay in bench/peers/.raw (ignored by git) for inspection;
# `cd bench && go run ./peers/report` rewrites the report from them.
set -euo pipefail

cd "$(dirname "$0")/../.."
root=$PWD
THREADS=${THREADS:-1}
ROUNDS=${ROUNDS:-5}
MAX_ROUNDS=${MAX_ROUNDS:-12}
TIME_LIMIT=${TIME_LIMIT:-420}
BENCHTIME=${BENCHTIME:-0.3s}
PROFILE=${PROFILE:-1}
QUIET_WAIT=${QUIET_WAIT:-20}
QUIET_BUDGET=${QUIET_BUDGET:-150}
OUT=${OUT:-docs/performance.md}
PYTHON=${PYTHON:-/usr/bin/python3}
case $OUT in /*) ;; *) OUT=$root/$OUT ;; esac
case $BENCHTIME in *[0-9]s) ;; *) echo "run.sh: BENCHTIME must be seconds, like 0.3s" >&2; exit 2 ;; esac

command="bench/peers/run.sh"
[ "$THREADS" != 1 ] && command="THREADS=\"$THREADS\" $command"
[ "$ROUNDS" != 5 ] && command="ROUNDS=$ROUNDS $command"
[ "$BENCHTIME" != 0.3s ] && command="BENCHTIME=$BENCHTIME $command"
[ "$PROFILE" != 1 ] && command="PROFILE=$PROFILE $command"

raw=$root/bench/peers/.raw
bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
rm -rf "$raw"
mkdir -p "$raw/prof"

log() { printf '%s run.sh: %s\n' "$(date +%T)" "$*" >&2; }

if ! "$PYTHON" -c 'import torch' 2>/dev/null; then
	echo "run.sh: $PYTHON cannot import torch; on Debian: apt-get install -y python3-torch python3-numpy" >&2
	exit 1
fi

log "building test binaries"
go test -c -o "$bin/ref-default.test" ./internal/refmodels
go test -c -tags openblas -o "$bin/ref-openblas.test" ./internal/refmodels
(
	# -mod=mod: bench/go.mod follows the main module's requirements
	# through the replace; when those change it is brought up to date here
	# rather than failing with "updates to go.mod needed"
	cd bench
	go test -mod=mod -c -o "$bin/floor-default.test" ./floor
	go test -mod=mod -c -tags openblas -o "$bin/floor-openblas.test" ./floor
	go test -mod=mod -c -o "$bin/gorgonia-gonum.test" ./gorgonia
	go test -mod=mod -c -tags openblas -o "$bin/gorgonia-openblas.test" ./gorgonia
)

# meta.txt: what the report's header says about the run
{
	printf 'command\t%s\n' "$command"
	printf 'date\t%s\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
	printf 'cpu\t%s\n' "$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -1)"
	printf 'ncpu\t%s\n' "$(nproc)"
	printf 'kernel\t%s\n' "$(uname -sr)"
	printf 'threads\t%s\n' "$THREADS"
	printf 'benchtime\t%s\n' "$BENCHTIME"
	printf 'go\t%s\n' "$(go env GOVERSION)"
	"$PYTHON" bench/peers/torch_bench.py --version | tr ' ' '\n' | paste - - | sed 's/^blas\t/torch_blas\t/'
	printf 'gorgonia\t%s\n' "$(cd bench && go list -m -f '{{.Version}}' gorgonia.org/gorgonia)"
	printf 'gonum\t%s\n' "$(cd bench && go list -m -f '{{.Version}}' gonum.org/v1/gonum)"
	printf 'netlib\t%s\n' "$(cd bench && go list -m -f '{{.Version}}' gonum.org/v1/netlib)"
	printf 'backend_default\t%s\n' "$("$bin/floor-default.test" -backend)"
	printf 'openblas\t%s\n' "$(dpkg-query -W -f '${Version}' libopenblas0-pthread 2>/dev/null || echo unknown)"
	c=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	if [ -n "$(git status --porcelain 2>/dev/null | grep -v ' bench/' | grep -v ' docs/performance.md' || true)" ]; then
		c="$c + uncommitted changes in the working tree"
	fi
	printf 'commit\t%s\n' "$c"
	printf 'load_before\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
} >"$raw/meta.txt"

harnesses=(ref-default ref-openblas floor-default floor-openblas gorgonia-gonum gorgonia-openblas torch)
configs=$("$bin/floor-default.test" -configs) # A/b32 A/b128 ... from internal/refmodels

# idle_cpus prints how many CPUs were idle over the last half second, from
# /proc/stat (idle + iowait over total, times the CPU count).
idle_cpus() {
	local a b
	read -r _ a1 a2 a3 a4 a5 a6 a7 a8 _ </proc/stat
	sleep 0.5
	read -r _ b1 b2 b3 b4 b5 b6 b7 b8 _ </proc/stat
	a=$((a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8))
	b=$((b1 + b2 + b3 + b4 + b5 + b6 + b7 + b8))
	awk -v idle=$(((b4 + b5) - (a4 + a5))) -v tot=$((b - a)) -v n="$(nproc)" \
		'BEGIN { printf "%.2f", (tot > 0 ? idle / tot * n : n) }'
}

# wait_quiet THREADS waits, up to QUIET_WAIT seconds (and QUIET_BUDGET
# over the whole run), until THREADS CPUs are idle, so that a measurement
# does not start while another tenant of a shared machine holds the cores
# it needs.
quiet_spent=0
wait_quiet() {
	local t=$1 waited=0
	while [ "$waited" -lt "$QUIET_WAIT" ] && [ "$quiet_spent" -lt "$QUIET_BUDGET" ]; do
		if awk -v i="$(idle_cpus)" -v t="$t" 'BEGIN { exit !(i >= t - 0.1) }'; then
			return
		fi
		sleep 1
		waited=$((waited + 2)) quiet_spent=$((quiet_spent + 2))
	done
}

# timed KEY OUT CMD... runs CMD with its output appended to OUT and appends
# "<harness> <round> KEY real user sys" (seconds) to cpu.txt: the report
# keeps the measurements whose process had its cores.
timed() {
	local key=$1 out=$2 times
	shift 2
	times=$({ TIMEFORMAT='%R %U %S'; time "$@" >>"$out" 2>>"$dir/stderr.txt"; } 2>&1) || {
		echo "run.sh: $h failed (round $r, $t threads); see $dir/stderr.txt and $out" >&2
		exit 1
	}
	echo "$h $r $key $times" >>"$dir/cpu.txt"
}

# run_one HARNESS THREADS ROUND writes the harness's benchmark lines to
# t<THREADS>/<harness>.r<ROUND>.txt. A Go harness runs one configuration per
# process, so that each figure gets its own CPU share; torch_bench.py
# reports a share per figure itself.
run_one() {
	local h=$1 t=$2 r=$3 dir=$raw/t$2
	local out=$dir/$h.r$r.txt bench
	wait_quiet "$t"
	case $h in
	torch)
		timed all "$out" "$PYTHON" bench/peers/torch_bench.py --threads "$t" --min-time "${BENCHTIME%s}"
		return ;;
	ref-*) bench='BenchmarkRef' ;;
	floor-default) bench='BenchmarkFloor(Gonum)?' ;;
	floor-*) bench='BenchmarkFloor' ;;
	gorgonia-*) bench='BenchmarkGorgonia' ;;
	esac
	local key
	for key in $configs; do
		timed "$key" "$out" "$bin/$h.test" -test.run '^$' -test.bench "^$bench\$/^${key%/*}\$/^${key#*/}\$" \
			-test.benchtime "$BENCHTIME" -test.benchmem
	done
}

# undisturbed_enough THREADS says whether every harness and configuration
# has had 3 runs that got at least 90% of their cores (the report's rule;
# see peers/report). torch's shares are per figure in its output and not
# counted here.
undisturbed_enough() {
	awk -v t="$1" '
		$3 == "all" { next }
		$4 > 0 && ($5 + $6) / $4 / t >= 0.9 { ok[$1 " " $3]++ }
		$4 > 0 { all[$1 " " $3] = 1 }
		END { for (k in all) if (ok[k] < 3) exit 1; exit 0 }' "$raw/t$1/cpu.txt"
}

for t in $THREADS; do
	export GOMAXPROCS=$t OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t MKL_NUM_THREADS=$t OMP_WAIT_POLICY=PASSIVE
	mkdir -p "$raw/t$t"
	start=$SECONDS
	r=0
	while :; do
		r=$((r + 1))
		# after ROUNDS rounds, more while some figure lacks 3 undisturbed
		# runs, up to MAX_ROUNDS rounds and TIME_LIMIT seconds
		if [ "$r" -gt "$ROUNDS" ]; then
			if [ "$r" -gt "$MAX_ROUNDS" ] || [ $((SECONDS - start)) -ge "$TIME_LIMIT" ] || undisturbed_enough "$t"; then
				break
			fi
		fi
		log "$t thread(s), round $r (at least $ROUNDS)"
		n=${#harnesses[@]}
		for i in $(seq 0 $((n - 1))); do
			run_one "${harnesses[$(((i + r - 1) % n))]}" "$t" "$r"
		done
	done
	printf 'rounds_t%s\t%s\n' "$t" $((r - 1)) >>"$raw/meta.txt"
done

if [ "$PROFILE" = 1 ]; then
	t=${THREADS%% *}
	export GOMAXPROCS=$t OMP_NUM_THREADS=$t OPENBLAS_NUM_THREADS=$t MKL_NUM_THREADS=$t OMP_WAIT_POLICY=PASSIVE
	for build in openblas default; do
		for key in A/b128 B/b128 C/b128 D/b1 D/b256; do
			log "profiling $build $key"
			cfg=${key%/*} batch=${key#*/}
			"$bin/ref-$build.test" -test.run '^$' -test.bench "^BenchmarkRef\$/^$cfg\$/^$batch\$" \
				-test.benchtime 1s -test.cpuprofile "$raw/prof/$build-${cfg}_$batch.prof" >/dev/null
		done
	done
fi

printf 'load_after\t%s\n' "$(cut -d' ' -f1-3 /proc/loadavg)" >>"$raw/meta.txt"
printf 'quiet_waited\t%s\n' "$quiet_spent" >>"$raw/meta.txt"
log "writing $OUT"
mkdir -p "$(dirname "$OUT")"
(cd bench && go run -mod=mod ./peers/report -raw "$raw" -out "$OUT")
log "done"
