package state_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"

	"github.com/k0rdent/k0rdent-deploy/internal/testenv"
	"github.com/k0rdent/k0rdent-deploy/state"
	"github.com/k0rdent/k0rdent-deploy/state/backendtest"
)

// TestBlobBackend_Contract runs the backend contract suite on Azure Blob
// Storage (Azurite), a fresh container per test.
func TestBlobBackend_Contract(t *testing.T) {
	az := testenv.SharedAzurite(t)
	backendtest.Run(t, func(t *testing.T) backendtest.Harness {
		var b [4]byte
		rand.Read(b[:])
		name := "c" + hex.EncodeToString(b[:])
		cc, err := container.NewClientFromConnectionString(az.ConnectionString(), name, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cc.Create(context.Background(), nil); err != nil {
			t.Fatal(err)
		}
		cfg := state.BlobConfig{
			Account: testenv.AzuriteAccount, Container: name, Prefix: "deployments/prod",
			ConnectionString: az.ConnectionString(), LeasePeriod: 15 * time.Second, TryTimeout: 5 * time.Second,
		}
		return backendtest.Harness{
			Open: func() state.Backend {
				b, err := state.NewBlobBackend(context.Background(), cfg)
				if err != nil {
					t.Fatal(err)
				}
				return b
			},
			Abandon: func(t *testing.T, l state.Lease) {
				if err := state.AbandonBlobLease(t.Context(), l); err != nil {
					t.Fatal(err)
				}
			},
		}
	})
}
