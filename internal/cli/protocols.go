package cli

// bindings lists every configured listener with its server.
func (d *deps) bindings() ([]binding, error) {
	return d.webBindings()
}
