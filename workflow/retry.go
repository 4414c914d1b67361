package workflow

import (
	"fmt"
	"time"
)

// RetryReason is the Reason of the `failed` event of an attempt the
// scheduler will retry: "retry 2/5 in 10s" (the retry's number, the
// Policy's Retries, the backoff before it).
func RetryReason(try, of int, wait time.Duration) string {
	return fmt.Sprintf("retry %d/%d in %s", try, of, wait)
}

// Retry tells whether ev is a failed attempt the scheduler retries, and
// which: a progress display shows it as a retry, not as a failure.
func Retry(ev Event) (try, of int, wait time.Duration, ok bool) {
	if ev.To != Failed {
		return 0, 0, 0, false
	}
	var w string
	if n, err := fmt.Sscanf(ev.Reason, "retry %d/%d in %s", &try, &of, &w); err != nil || n != 3 {
		return 0, 0, 0, false
	}
	wait, err := time.ParseDuration(w)
	if err != nil {
		return 0, 0, 0, false
	}
	return try, of, wait, true
}
