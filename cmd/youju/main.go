// Command youju is a complete mail server for an organisation: SMTP, IMAP,
// POP3 and client autoconfiguration in one binary. See README.md.
package main

import (
	"os"

	"github.com/youju/youju/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
