// Package all imports every rtconform suite, registering all checks; the CLI and
// suites_test.go import it.
package all

import (
	_ "github.com/rtconform/rtconform/suites/engineio"
	_ "github.com/rtconform/rtconform/suites/fallback"
	_ "github.com/rtconform/rtconform/suites/httpstream"
	_ "github.com/rtconform/rtconform/suites/longpoll"
	_ "github.com/rtconform/rtconform/suites/ordering"
	_ "github.com/rtconform/rtconform/suites/proxy"
	_ "github.com/rtconform/rtconform/suites/reconnect"
	_ "github.com/rtconform/rtconform/suites/sse"
	_ "github.com/rtconform/rtconform/suites/websocket"
)
