package daemon

import (
	"strconv"

	"github.com/fieldd/fieldd/internal/proto"
)

func itoa(n int) string { return strconv.Itoa(n) }

var _ = proto.TypeFieldIDs
