#!/bin/bash
# layers.sh [SRC]: the layering of DESIGN.md's Layout, checked from the #include lines.
#
# Folders under src/ are layers, each including only the layers below it:
#   lib (0) <- state (1) <- proto, notice (2) <- intake, outbound (3) <- engine (4)
# A file may include its own folder and any lower one; never a higher layer nor a
# sibling at the same rank (intake never includes outbound: no outbound call before
# the answer).  Every include of ours names its folder ("state/store.h"), and no
# include cycle may run between modules (a module is a .c and its .h; a header
# without a .c is seen through).  outbound/ and proto/ never include the store.
#
# Prints TAP; exits 1 when a rule is broken.  SRC defaults to the tree's src/.
set -u
src=${1:-"$(dirname "$0")/../src"}

# Deliberate exceptions: "file include reason", one per line.  None today.
EXCEPTIONS=""

# Headers a layer may not include although they are below it, with the reason.
# The outbound clients never touch the store (what they learn goes back to an
# engine, which records it), and the pure parsers know no store either.
FORBIDDEN="outbound state/store.h the outbound clients never touch the store
outbound state/journal.h the outbound clients never touch the store
proto state/store.h a parser knows nothing of the store
proto state/journal.h a parser knows nothing of the store"

# The reason layer $1 may not include $2, or nothing.
forbidden() {
	local layer inc reason
	while read -r layer inc reason; do
		[ "$layer" = "$1" ] && [ "$inc" = "$2" ] && echo "$reason" && return
	done <<<"$FORBIDDEN"
}

# Sets rank to the rank of layer $1, -1 when it is not a layer (no subshell: it runs per include).
rank_of() {
	case $1 in
	lib) rank=0 ;;
	state) rank=1 ;;
	proto | notice) rank=2 ;;
	intake | outbound) rank=3 ;;
	engine) rank=4 ;;
	*) rank=-1 ;;
	esac
}

excepted() {
	local file=$1 inc=$2 f i reason
	[ -n "$EXCEPTIONS" ] || return 1
	while read -r f i reason; do
		[ -n "$f" ] && [ "$f" = "$file" ] && [ "$i" = "$inc" ] && return 0
	done <<<"$EXCEPTIONS"
	return 1
}

bad=0
cycles=0
edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
declare -A incs	# file -> the headers it includes

# Every local include of every file: "file include" pairs, paths relative to src.
includes() {
	(cd "$src" && grep -H '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' -- */*.c */*.h 2>/dev/null) |
	    sed -E 's/^([^:]+):[[:space:]]*#[[:space:]]*include[[:space:]]*"([^"]+)".*/\1 \2/'
}

# Files directly in src/ have no layer.
for f in "$src"/*.c "$src"/*.h; do
	[ -e "$f" ] || continue
	echo "# ${f#"$src"/}: in src/ itself; every module belongs to a layer's folder"
	bad=$((bad + 1))
done

while read -r file inc; do
	layer=${file%%/*}
	rank_of "$layer"
	if [ "$rank" -lt 0 ]; then
		echo "# $file: folder $layer/ is not a layer (lib state proto notice intake outbound engine)"
		bad=$((bad + 1))
		continue
	fi
	case $inc in
	*/*) ;;
	*)
		echo "# $file includes \"$inc\": name the layer (\"lib/$inc\", \"state/$inc\"...)"
		bad=$((bad + 1))
		continue
		;;
	esac
	to=${inc%%/*}
	from_rank=$rank
	rank_of "$to"
	to_rank=$rank
	rank=$from_rank
	if [ ! -f "$src/$inc" ]; then
		echo "# $file includes \"$inc\", which does not exist"
		bad=$((bad + 1))
	elif excepted "$file" "$inc"; then
		:
	elif [ "$to" != "$layer" ] && [ "$to_rank" -ge "$rank" ]; then
		kind=higher
		[ "$to_rank" -eq "$rank" ] && kind=sibling
		echo "# $file ($layer) includes $inc: $to is a $kind layer"
		bad=$((bad + 1))
	elif [ "$layer" = outbound ] || [ "$layer" = proto ]; then
		why=$(forbidden "$layer" "$inc")
		if [ -n "$why" ]; then
			echo "# $file ($layer) includes $inc: $why"
			bad=$((bad + 1))
		fi
	fi
	incs[$file]+="$inc "
done < <(includes)

if [ "$bad" -eq 0 ]; then
	echo "ok 1 - every include names a layer at or below its own, never a sibling"
else
	echo "not ok 1 - $bad include(s) break the layering (above)"
fi

# The module graph: a module is a .c file and its header.  A header without
# a .c of its own (types shared by a module's files, runtime.h) belongs to
# no module: what it includes counts as included by whoever includes it.
header_only() {
	[[ $1 == *.h && ! -f $src/${1%.h}.c ]]
}

# The modules file reaches: its includes, through header-only headers.
reaches() {
	local file=$1 seen=$2 inc
	for inc in ${incs[$file]:-}; do
		case " $seen " in *" $inc "*) continue ;; esac
		seen="$seen $inc"
		if header_only "$inc"; then
			reaches "$inc" "$seen"
		else
			echo "${inc%.h}"
		fi
	done
}

for f in "${!incs[@]}"; do
	header_only "$f" && continue
	from=${f%.*}
	for to in $(reaches "$f" "$f" | sort -u); do
		[ "$to" != "$from" ] && echo "$from $to" >>"$edges"
	done
done

# tsort names the modules of each loop it finds on stderr.
loops=$(tsort "$edges" 2>&1 >/dev/null | sed -n 's/^tsort: //p' | grep -v 'input contains a loop')
if [ -z "$loops" ]; then
	echo "ok 2 - no include cycle between modules"
else
	cycles=1
	echo "# modules in an include cycle:"
	echo "$loops" | sed 's/^/#   /'
	echo "not ok 2 - an include cycle between modules (above)"
fi
echo "1..2"
[ "$bad" -eq 0 ] && [ "$cycles" -eq 0 ]
