package phases

import "fmt"

// plural is the count and the noun, in the plural unless n is 1: "1
// controller", "2 controllers", "0 retries". For the lines a plan shows.
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	switch {
	case len(noun) > 1 && noun[len(noun)-1] == 'y' && !isVowel(noun[len(noun)-2]):
		noun = noun[:len(noun)-1] + "ie"
	case len(noun) > 0 && (noun[len(noun)-1] == 's' || noun[len(noun)-1] == 'x'):
		noun += "e"
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func isVowel(b byte) bool { return b == 'a' || b == 'e' || b == 'i' || b == 'o' || b == 'u' }

// orUnset is v, or "<key unset>" when v is blank, so that a plan line
// never shows a blank value ("domain )").
func orUnset(v, key string) string {
	if v == "" {
		return "<" + key + " unset>"
	}
	return v
}
