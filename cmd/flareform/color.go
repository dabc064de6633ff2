package main

// colorEnabled says whether output to a stream that is (tty) a terminal gets colours. In order:
// --no-color, then NO_COLOR set to anything (https://no-color.org) turn them off; then
// FORCE_COLOR set to anything but "0" or "false" (https://force-color.org; CI logs that show
// colours set it) turns them on, also on a pipe; else a terminal that is not TERM=dumb gets
// them. The colours themselves are view's (view.Plan).
func (o *rootOptions) colorEnabled(tty bool) bool {
	switch {
	case o.NoColor || o.Getenv("NO_COLOR") != "":
		return false
	case forceColor(o.Getenv("FORCE_COLOR")):
		return true
	}
	return tty && o.Getenv("TERM") != "dumb"
}

// forceColor reads FORCE_COLOR: set and not "0" or "false".
func forceColor(v string) bool {
	return v != "" && v != "0" && v != "false"
}
