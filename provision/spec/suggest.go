package spec

// Closest returns the candidate nearest to s, as spec errors suggest it (see closest): for
// later stages that check names against a list (compatibility flags, models).
func Closest(s string, candidates []string) string { return closest(s, candidates) }

// EditDistance is the Damerau–Levenshtein distance between a and b.
func EditDistance(a, b string) int { return editDistance(a, b) }

// closest returns the candidate nearest to s by edit distance, or "" when none is near enough
// to be a plausible typo (at most 2 edits, and fewer than half of s's length). Failing that,
// an abbreviation ("compat_date" for "compatibility_date") matches the one candidate with the
// same first and last three characters.
func closest(s string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		d := editDistance(s, c)
		if d < bestDist && d*2 < max(len(s), 2) {
			best, bestDist = c, d
		}
	}
	if best != "" || len(s) < 6 {
		return best
	}
	var abbreviated []string
	for _, c := range candidates {
		if len(c) > len(s) && c[:3] == s[:3] && c[len(c)-3:] == s[len(s)-3:] {
			abbreviated = append(abbreviated, c)
		}
	}
	if len(abbreviated) == 1 {
		return abbreviated[0]
	}
	return ""
}

// editDistance is the Damerau–Levenshtein distance (adjacent swaps count as one edit, since
// "mian" for "main" is the most common typo).
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	rows := make([][]int, len(ra)+1)
	for i := range rows {
		rows[i] = make([]int, len(rb)+1)
		rows[i][0] = i
	}
	for j := range rows[0] {
		rows[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			rows[i][j] = min(rows[i-1][j]+1, rows[i][j-1]+1, rows[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				rows[i][j] = min(rows[i][j], rows[i-2][j-2]+1)
			}
		}
	}
	return rows[len(ra)][len(rb)]
}
