package state

import (
	"context"
	"fmt"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/to"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/lease"
)

// AbandonBlobLease leaves a BlobBackend lease as a holder that died
// leaves it, without waiting for the lease period: renewal stops, the
// lease is broken at once (as if it had expired), the holder record
// stays in the lock blob. For the contract suite (package state_test).
func AbandonBlobLease(ctx context.Context, l Lease) error {
	bl, ok := l.(*blobLease)
	if !ok {
		return fmt.Errorf("not a blob lease: %T", l)
	}
	bl.mu.Lock()
	if !bl.stopped {
		bl.stopped = true
		close(bl.stop)
	}
	bl.mu.Unlock()
	<-bl.done
	bl.b.mu.Lock()
	if bl.b.held == bl {
		bl.b.held = nil
	}
	bl.b.mu.Unlock()
	_, err := bl.lc.BreakLease(ctx, &lease.BlobBreakOptions{BreakPeriod: to.Ptr(int32(0))})
	return err
}
