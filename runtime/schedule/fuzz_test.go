// Fuzz target for what users type: actions.

package schedule

import "testing"

// FuzzParseAction: any string either fails to parse or parses to an action
// that prints back to a string that parses to the same action.
func FuzzParseAction(f *testing.F) {
	for _, s := range []string{"2F0", "1RECV_B3", "0STEP", "3send_f12", "F0", "0X1", "0STEP1", "12W", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAction(s)
		if err != nil {
			return
		}
		b, err := ParseAction(a.String())
		if err != nil || a != b {
			t.Fatalf("%q parsed to %v, which prints as %q and parses to %v (%v)", s, a, a.String(), b, err)
		}
	})
}
