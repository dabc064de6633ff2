package view

import (
	"fmt"
	"io"
	"time"

	"github.com/flareform/flareform/provision"
)

// Estimate says, when the API's rate budget will make an apply or destroy (command) wait, how
// many calls it makes and about how long it takes, so a fleet's apply is approved knowing it.
// It writes nothing when the budget does not bind.
func Estimate(w io.Writer, est provision.ApplyEstimate, command string) {
	if !est.Binds() {
		return
	}
	fmt.Fprintf(w, "\nThis %s makes about %d API calls; at the API's rate budget of %d requests per %s "+
		"(%d left now) it will take about %s: flareform waits for the budget rather than be refused.\n",
		command, est.Calls, est.Limit, humanDuration(est.Window), est.Available, humanDuration(roundUpMinute(est.Wait)))
}

// roundUpMinute rounds a wait of minutes up to whole minutes (shorter ones to seconds).
func roundUpMinute(d time.Duration) time.Duration {
	if d < time.Minute {
		return d.Round(time.Second)
	}
	return (d + time.Minute - 1).Truncate(time.Minute)
}

// humanDuration writes 5m0s as "5 minutes", 90s as "90 seconds".
func humanDuration(d time.Duration) string {
	switch {
	case d >= time.Minute && d%time.Minute == 0:
		if d == time.Minute {
			return "1 minute"
		}
		return fmt.Sprintf("%d minutes", d/time.Minute)
	case d == time.Second:
		return "1 second"
	}
	return fmt.Sprintf("%d seconds", int(d.Round(time.Second)/time.Second))
}
