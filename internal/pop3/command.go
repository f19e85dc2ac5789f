package pop3

import (
	"errors"
	"strconv"
	"strings"
)

// Command is one parsed POP3 command line.
type Command struct {
	// Name is the keyword in upper case (RFC 1939 §3: keywords are
	// case-insensitive).
	Name string
	// Args are the space-separated arguments.
	Args []string
	// Rest is everything after the keyword and its one space, verbatim. PASS
	// uses it: RFC 1939 §7 lets a server treat spaces in the argument as
	// part of the password.
	Rest string
}

// Parser errors. They are answered with -ERR and counted as bad commands.
var (
	errEmptyCommand = errors.New("empty command")
	errBadKeyword   = errors.New("invalid command keyword")
	errBadArgument  = errors.New("invalid character in argument")
	errTooManyArgs  = errors.New("too many arguments")
)

// maxArgs bounds the arguments of a command: no POP3 command has more than
// two (TOP msg n, AUTH mech initial-response).
const maxArgs = 4

// ParseCommand parses a command line without its line ending. RFC 1939 §3:
// a keyword of three or four printable characters, then arguments separated
// by single spaces. We are lenient where clients are known to be sloppy
// (several spaces, a trailing space, tabs) and strict where it matters (no
// control characters, bounded argument count).
func ParseCommand(line []byte) (Command, error) {
	s := string(line)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 && c != '\t' || c == 0x7f {
			return Command{}, errBadArgument
		}
	}
	kw, rest, _ := strings.Cut(s, " ")
	if kw == "" {
		return Command{}, errEmptyCommand
	}
	// RFC 2449 §3 allows keywords of 3 or 4 characters; "AUTH", "CAPA",
	// "STLS" are 4, "TOP" is 3.
	if len(kw) < 3 || len(kw) > 4 {
		return Command{}, errBadKeyword
	}
	for i := 0; i < len(kw); i++ {
		c := kw[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return Command{}, errBadKeyword
		}
	}
	cmd := Command{Name: strings.ToUpper(kw), Rest: rest}
	for _, f := range strings.FieldsFunc(rest, func(r rune) bool { return r == ' ' || r == '\t' }) {
		if len(cmd.Args) == maxArgs {
			return Command{}, errTooManyArgs
		}
		cmd.Args = append(cmd.Args, f)
	}
	return cmd, nil
}

// parseMsgNum parses a message number (RFC 1939 §3: decimal, from 1). It
// returns 0 for anything else, which no message has.
func parseMsgNum(s string) int {
	if s == "" || len(s) > 10 || s[0] < '1' || s[0] > '9' {
		return 0
	}
	n, err := strconv.ParseUint(s, 10, 31)
	if err != nil {
		return 0
	}
	return int(n)
}

// parseLineCount parses the line count of TOP (RFC 1939 §7: non-negative).
// Huge values are clamped rather than refused: they mean "all of it".
func parseLineCount(s string) (int, bool) {
	if s == "" || len(s) > 20 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 31)
	if err != nil {
		return 1<<31 - 1, true
	}
	return int(n), true
}
