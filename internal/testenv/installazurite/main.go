// Command installazurite installs Azurite, the Azure Storage emulator the
// state backend tests run against, into the cache the tests look in
// (testenv.AzuriteDir). .ci/run runs it; it is a no-op when Azurite is
// there already.
package main

import (
	"fmt"
	"os"

	"github.com/k0rdent/k0rdent-deploy/internal/testenv"
)

func main() {
	if err := testenv.InstallAzurite(os.Stderr, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "installazurite:", err)
		os.Exit(1)
	}
	bin, _ := testenv.AzuriteBinary()
	fmt.Println(bin)
}
