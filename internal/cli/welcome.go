package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"mime"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/youju/youju/internal/clientconf"
	"github.com/youju/youju/internal/config"
	"github.com/youju/youju/internal/delivery"
	"github.com/youju/youju/internal/delivery/queue"
	"github.com/youju/youju/internal/fsutil"
)

// devWelcomeFile marks that the --dev welcome message was delivered, so
// that a restart does not deliver it again.
const devWelcomeFile = "dev-welcome-sent"

// deliverWelcome puts a bilingual (Chinese and English) welcome message
// into the demo account's INBOX the first time --dev serves: an empty
// mailbox tells a newcomer nothing, a message tells them the settings.
// It goes through local delivery like any mail.
func deliverWelcome(ctx context.Context, dataDir string, c config.Config, host string, dl *delivery.Deliverer, demo *devAccount) error {
	marker := filepath.Join(dataDir, devWelcomeFile)
	if _, err := os.Stat(marker); !errors.Is(err, fs.ErrNotExist) {
		return err // nil: already delivered
	}
	deliver, _ := queue.LocalHooks(dl)
	msg := welcomeMessage(c, host, demo.address, time.Now())
	if err := deliver(ctx, "", []string{demo.address}, msg); err != nil {
		return fmt.Errorf("welcome message: %w", err)
	}
	return fsutil.WriteFileAtomic(marker, []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o644)
}

// welcomeMessage is the text of the --dev welcome: server names, ports,
// the settings page, in Chinese then English.
func welcomeMessage(c config.Config, host, addr string, now time.Time) []byte {
	var tbl strings.Builder
	for _, s := range clientconf.Settings(c, host) {
		fmt.Fprintf(&tbl, "  %-5s %-8s %-15s %5d  %s\r\n", s.Protocol, s.Role, s.Host, s.Port, s.Security)
	}
	page := "(off)"
	if a, err := c.Address(c.Listeners.HTTPS); err == nil && a != "" {
		_, port, _ := net.SplitHostPort(a)
		page = "https://" + net.JoinHostPort(host, port) + "/"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: youju <postmaster@%s>\r\nTo: <%s>\r\n", c.Domain, addr)
	fmt.Fprintf(&b, "Subject: Welcome to youju %s\r\n", mime.BEncoding.Encode("utf-8", "欢迎使用 youju 邮局"))
	fmt.Fprintf(&b, "Date: %s\r\nMessage-ID: <welcome.%d@%s>\r\n", now.Format(time.RFC1123Z), now.Unix(), c.Hostname)
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")
	fmt.Fprintf(&b, "欢迎使用 youju！这是试用模式（serve --dev）：域名 %s，服务器名 %s，只在本机 %s 上监听，端口都加了 %d。\r\n\r\n",
		c.Domain, c.Hostname, host, c.PortOffset)
	fmt.Fprintf(&b, "邮件客户端设置（用户名是完整的邮件地址 %s）：\r\n\r\n%s\r\n", addr, tbl.String())
	fmt.Fprintf(&b, "设置页面：%s —— 用这个账号登录，可以查看设置、下载 iPhone 描述文件、创建应用专用密码。\r\n", page)
	b.WriteString("证书是自签名的，客户端会提示确认，试用时接受即可。正式部署请看 README 的 \"Production\" 一节和 docs/dns.md。\r\n\r\n")
	b.WriteString("-- \r\n\r\n")
	fmt.Fprintf(&b, "Welcome to youju! This is the first-try mode (serve --dev): domain %s, server name %s, listening on %s only, every port shifted by %d.\r\n\r\n",
		c.Domain, c.Hostname, host, c.PortOffset)
	fmt.Fprintf(&b, "Mail client settings (user name: the full address %s): see the table above.\r\n\r\n", addr)
	fmt.Fprintf(&b, "Settings page: %s - sign in with this account to see your settings, download the iPhone profile and make app passwords.\r\n", page)
	b.WriteString("The certificate is self-signed: accept it in the client for this try. For a real deployment, read \"Production\" in the README and docs/dns.md.\r\n")
	return b.Bytes()
}
