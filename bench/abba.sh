# Sourced by the overhead scripts.
#
# abba N A B prints the order of pair N in an ABBA sequence ("A B" for odd
# pairs, "B A" for even ones), so that drift of the shared machine falls on
# both builds alike.
abba() {
	if [ $(($1 % 2)) -eq 1 ]; then echo "$2 $3"; else echo "$3 $2"; fi
}
