// Package suggest finds the names a user probably meant: "did you mean"
// for unknown system calls, functions and the like.
package suggest

import (
	"sort"
	"strings"
)

// Near returns up to max names from list close to s, the closest first:
// names containing s (or contained in it) before others, then by edit
// distance, ignoring case. Names too far from s to be a typo of it are left
// out, so the result may be empty.
func Near(s string, list []string, max int) []string {
	low := strings.ToLower(s)
	type cand struct {
		name string
		d    int
	}
	var cs []cand
	for _, n := range list {
		ln := strings.ToLower(n)
		d := distance(low, ln)
		sub := low != "" && (strings.Contains(ln, low) || strings.Contains(low, ln))
		if sub {
			d -= len(low) // a substring is the likeliest intent
		}
		if sub || d <= max3(len(low)/2+1) {
			cs = append(cs, cand{n, d})
		}
	}
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].d != cs[j].d {
			return cs[i].d < cs[j].d
		}
		return cs[i].name < cs[j].name
	})
	var out []string
	for i := 0; i < len(cs) && i < max; i++ {
		out = append(out, cs[i].name)
	}
	return out
}

// max3 allows at least three edits: short names deserve typos too.
func max3(n int) int { return max(n, 3) }

// distance is the Levenshtein distance; names longer than any real
// identifier are not compared, to keep the cost bounded.
func distance(a, b string) int {
	if len(a) > 256 || len(b) > 256 {
		return 1 << 20
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			c := prev[j-1]
			if a[i-1] != b[j-1] {
				c++
			}
			cur[j] = min(c, prev[j]+1, cur[j-1]+1)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
