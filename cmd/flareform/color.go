package main

// colorEnabled says whether output to a stream that is (tty) a terminal gets colours: not with
// --no-color, NO_COLOR set to anything (https://no-color.org) or TERM=dumb. The colours
// themselves are view's (view.Plan).
func (o *rootOptions) colorEnabled(tty bool) bool {
	return tty && !o.NoColor && o.Getenv("NO_COLOR") == "" && o.Getenv("TERM") != "dumb"
}
