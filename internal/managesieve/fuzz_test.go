package managesieve

import (
	"bufio"
	"strings"
	"testing"
)

// FuzzReadCommand reads commands until the input ends: it must never
// panic, and never return more than maxArgs arguments.
func FuzzReadCommand(f *testing.F) {
	for _, s := range []string{
		"PUTSCRIPT \"a\" {5+}\r\nhello\r\n",
		"AUTHENTICATE \"PLAIN\" \"AGEAYg==\"\r\nNOOP\r\n",
		"CHECKSCRIPT {3}\r\nabc\r\nLOGOUT\r\n",
		"HAVESPACE \"x\" 100\r\n",
		"X \"\\\"\\\\\"\r\n",
		"PUTSCRIPT bad {2+}\r\nxx\r\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r := bufio.NewReader(strings.NewReader(in))
		for i := 0; i < 100; i++ {
			cmd, err := ReadCommand(r)
			if err != nil {
				if _, ok := err.(*errSyntax); ok {
					continue
				}
				return
			}
			if len(cmd.Args) > maxArgs {
				t.Fatalf("%d args", len(cmd.Args))
			}
		}
	})
}
