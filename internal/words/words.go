// Package words writes counts and ordinals as English reads them: "1 device", "2 devices", "3rd".
package words

import (
	"fmt"
	"strings"
)

// Count is n and the noun, plural unless n is 1: "1 device", "4 micro-batches".
func Count(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, noun)
	}
	return fmt.Sprintf("%d %s", n, Plural(noun))
}

// Plural is a regular English noun's plural: -es after s, x, ch and sh.
func Plural(noun string) string {
	for _, end := range []string{"s", "x", "ch", "sh"} {
		if strings.HasSuffix(noun, end) {
			return noun + "es"
		}
	}
	return noun + "s"
}

// Ordinal is n as "1st", "2nd", "3rd", "4th", "11th", "22nd".
func Ordinal(n int64) string {
	suffix := "th"
	if n%100 < 11 || n%100 > 13 {
		switch n % 10 {
		case 1:
			suffix = "st"
		case 2:
			suffix = "nd"
		case 3:
			suffix = "rd"
		}
	}
	return fmt.Sprintf("%d%s", n, suffix)
}
