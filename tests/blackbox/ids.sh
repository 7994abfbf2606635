# ids.sh -- valid GB 11643-1999 resident identity numbers for black-box tests.
#
#   mkid REGION6 YYYYMMDD SEQ3   prints the 18-character ID with its check character:
#                                "10X98765432"[sum(d_i * w_i) mod 11], weights
#                                7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2 over the 17 digits.
#   badcheck ID                  prints ID with a wrong (but well-formed) check character.
mkid() {
    printf '%s%s%s\n' "$1" "$2" "$3" | awk '{
        if (length($0) != 17 || $0 !~ /^[0-9]+$/) { print "mkid: need 17 digits, got " $0 > "/dev/stderr"; exit 1 }
        split("7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2", w, " ")
        s = 0
        for (i = 1; i <= 17; i++) s += substr($0, i, 1) * w[i]
        printf "%s%s\n", $0, substr("10X98765432", s % 11 + 1, 1)
    }'
}

badcheck() {
    printf '%s\n' "$1" | awk '{
        c = substr($0, 18, 1)
        n = (c == "0") ? "1" : "0"
        printf "%s%s\n", substr($0, 1, 17), n
    }'
}
