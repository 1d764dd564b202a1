package main

import (
	"os"
	"strings"

	"github.com/rs/zerolog"
)

// thpPath is where Linux shows its transparent huge page mode.
const thpPath = "/sys/kernel/mm/transparent_hugepage/enabled"

// thpMode returns the mode selected in the contents of thpPath
// ("always [madvise] never" gives "madvise"), or "" if none is.
func thpMode(contents string) string {
	i := strings.IndexByte(contents, '[')
	j := strings.IndexByte(contents, ']')
	if i < 0 || j < i {
		return ""
	}
	return contents[i+1 : j]
}

// logTHP logs the machine's transparent huge page mode at start-up, with
// a hint where it is not "always": the order path's tables and the read
// model are large and read at random, and on the 2-core VM huge pages
// made istd's batch orders 1–21% faster (docs/operations.md, Latency
// tuning). Nothing is logged where the mode cannot be read (not Linux).
func logTHP(log *zerolog.Logger) {
	b, err := os.ReadFile(thpPath)
	if err != nil {
		return
	}
	switch mode := thpMode(string(b)); mode {
	case "":
	case "always":
		log.Info().Str("transparent_hugepage", mode).Msg("huge pages")
	default:
		log.Info().Str("transparent_hugepage", mode).
			Msg("huge pages: istd's memory gets them only with 'always'; see docs/operations.md, Latency tuning")
	}
}
