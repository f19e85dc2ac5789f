package web

import (
	"strconv"
	"strings"
)

// The settings page speaks English and Simplified Chinese. Every key is in
// both tables (a test renders every page in both languages; a missing key
// is an execution error, never a silent blank).

var messages = map[string]map[string]string{
	"en": {
		"title":                "Mail settings",
		"col_service":          "Service",
		"col_server":           "Server name",
		"col_port":             "Port",
		"col_security":         "Security",
		"col_user":             "User name",
		"incoming":             "incoming mail",
		"outgoing":             "outgoing mail",
		"user_full":            "your full e-mail address",
		"password_hint":        "Password: your account password, or an app password made below. Choose the first IMAP line if your app offers IMAP; POP3 downloads mail to one device only.",
		"settings_heading":     "Settings for mail apps",
		"settings_intro":       "Enter these in your mail app if it asks for server settings.",
		"auto_note":            "Most apps (Outlook, Thunderbird, iPhone Mail) find these settings by themselves from your e-mail address: just type the address and the password.",
		"signin":               "Sign in",
		"signin_intro":         "Sign in to see your own settings, get the iPhone profile and manage app passwords.",
		"address":              "E-mail address",
		"password":             "Password",
		"signin_button":        "Sign in",
		"use_https":            "For your safety, sign-in works only over an encrypted connection:",
		"signed_in_as":         "Signed in as",
		"signout":              "Sign out",
		"iphone_download":      "Download the iPhone / iPad / Mac profile",
		"iphone_note":          "Open this page in Safari on the iPhone, tap the button, then Settings › Profile Downloaded › Install, and type your password.",
		"apppass_heading":      "App passwords",
		"apppass_intro":        "Give each mail app its own password, so that a lost phone can be locked out without changing your main password.",
		"apppass_created":      "New app password for",
		"apppass_once":         "Copy it into the app now: it is shown only once.",
		"apppass_name":         "Name",
		"apppass_created_col":  "Created",
		"apppass_lastused":     "Last used",
		"never":                "never",
		"revoke":               "Revoke",
		"apppass_none":         "No app passwords yet.",
		"apppass_placeholder":  "e.g. phone, Outlook at work",
		"apppass_create":       "Create app password",
		"services_heading":     "Access",
		"services_intro":       "Turn off what you do not use: a password that leaks is then useless for it.",
		"allow_imap":           "Allow IMAP (mail stays on the server, all devices in sync)",
		"allow_pop3":           "Allow POP3 (downloads mail to one device)",
		"pop3_scope":           "POP3 shows:",
		"pop3_scope_inbox":     "the Inbox",
		"pop3_scope_all":       "every folder except Trash and Junk",
		"pop3_scope_recent":    "Inbox mail of the last days (below)",
		"pop3_scope_allrecent": "mail of all folders from the last days (below)",
		"pop3_days":            "Days:",
		"pop3_delete":          "When a POP3 app deletes a message:",
		"pop3_delete_delete":   "delete it on the server",
		"pop3_delete_trash":    "move it to Trash",
		"pop3_delete_hide":     "keep it, hidden from POP3 only",
		"err_pop3_options":     "Those POP3 options are not valid.",
		"save":                 "Save",
		"err_credentials":      "Wrong e-mail address or password.",
		"err_throttled":        "Too many failed sign-ins. Wait a few minutes and try again.",
		"err_disabled":         "This account is disabled. Ask the administrator.",
		"err_csrf":             "The form expired or did not come from this page. Please try again.",
		"err_app_password":     "Sign in with your account password here, not with an app password.",
		"err_internal":         "Something went wrong on the server. Please try again later.",
		"err_name":             "Give the app password a name of 1 to 64 characters.",
		"err_exists":           "An app password with this name exists already.",
		"err_not_found":        "There is no app password with this name.",
		"notice_revoked":       "App password revoked: apps using it can no longer sign in.",
		"notice_saved":         "Saved.",
	},
	"zh": {
		"title":                "邮件设置",
		"col_service":          "服务",
		"col_server":           "服务器地址",
		"col_port":             "端口",
		"col_security":         "加密方式",
		"col_user":             "用户名",
		"incoming":             "收信",
		"outgoing":             "发信",
		"user_full":            "完整的邮箱地址",
		"password_hint":        "密码：账户密码，或在下面生成的应用专用密码。客户端支持 IMAP 时请选第一行 IMAP；POP3 只把邮件下载到一台设备。",
		"settings_heading":     "邮件客户端设置",
		"settings_intro":       "如果邮件客户端要求填写服务器设置，请按下表填写。",
		"auto_note":            "大多数客户端（Outlook、Thunderbird、iPhone 邮件）只需输入邮箱地址和密码，就能自动找到这些设置。",
		"signin":               "登录",
		"signin_intro":         "登录后可以查看自己的设置、下载 iPhone 描述文件、管理应用专用密码。",
		"address":              "邮箱地址",
		"password":             "密码",
		"signin_button":        "登录",
		"use_https":            "为了安全，只能通过加密连接登录：",
		"signed_in_as":         "当前账户",
		"signout":              "退出",
		"iphone_download":      "下载 iPhone / iPad / Mac 描述文件",
		"iphone_note":          "请在 iPhone 的 Safari 中打开本页，点按上面的按钮，再到“设置 › 已下载描述文件 › 安装”，输入密码即可。",
		"apppass_heading":      "应用专用密码（授权码）",
		"apppass_intro":        "为每个邮件客户端生成单独的密码；手机丢失时只需撤销它，不必修改账户密码。",
		"apppass_created":      "已生成应用专用密码：",
		"apppass_once":         "请现在就复制到客户端中：它只显示这一次。",
		"apppass_name":         "名称",
		"apppass_created_col":  "创建时间",
		"apppass_lastused":     "最近使用",
		"never":                "从未",
		"revoke":               "撤销",
		"apppass_none":         "还没有应用专用密码。",
		"apppass_placeholder":  "例如：手机、公司 Outlook",
		"apppass_create":       "生成应用专用密码",
		"services_heading":     "访问开关",
		"services_intro":       "关闭不用的服务：即使密码泄露，也无法通过它收信。",
		"allow_imap":           "允许 IMAP（邮件保存在服务器上，多台设备同步）",
		"allow_pop3":           "允许 POP3（把邮件下载到一台设备）",
		"pop3_scope":           "POP3 收取：",
		"pop3_scope_inbox":     "收件箱",
		"pop3_scope_all":       "除已删除和垃圾邮件外的所有文件夹",
		"pop3_scope_recent":    "最近几天的收件箱邮件（天数见下）",
		"pop3_scope_allrecent": "最近几天所有文件夹的邮件（天数见下）",
		"pop3_days":            "天数：",
		"pop3_delete":          "POP3 客户端删除邮件时：",
		"pop3_delete_delete":   "从服务器删除",
		"pop3_delete_trash":    "移到已删除",
		"pop3_delete_hide":     "保留在服务器，只对 POP3 隐藏",
		"err_pop3_options":     "POP3 选项无效。",
		"save":                 "保存",
		"err_credentials":      "邮箱地址或密码错误。",
		"err_throttled":        "登录失败次数太多，请等几分钟再试。",
		"err_disabled":         "该账户已停用，请联系管理员。",
		"err_csrf":             "表单已过期或并非来自本页面，请重试。",
		"err_app_password":     "这里请使用账户密码登录，不能使用应用专用密码。",
		"err_internal":         "服务器出错，请稍后再试。",
		"err_name":             "请为应用专用密码起一个 1 到 64 个字符的名称。",
		"err_exists":           "已有同名的应用专用密码。",
		"err_not_found":        "没有这个名称的应用专用密码。",
		"notice_revoked":       "已撤销该应用专用密码：使用它的客户端无法再登录。",
		"notice_saved":         "已保存。",
	},
}

// pickLang chooses "zh" or "en": the language cookie set by the switch
// links, else the first of zh*/en* by quality in Accept-Language
// (RFC 9110 §12.5.4), else English.
func pickLang(cookie, acceptLanguage string) string {
	if cookie == "zh" || cookie == "en" {
		return cookie
	}
	best, bestQ := "en", -1.0
	for _, part := range strings.Split(acceptLanguage, ",") {
		tag, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		tag = strings.ToLower(strings.TrimSpace(tag))
		q := 1.0
		if v, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				continue
			}
			q = f
		}
		var lang string
		switch {
		case tag == "zh" || strings.HasPrefix(tag, "zh-"):
			lang = "zh"
		case tag == "en" || strings.HasPrefix(tag, "en-"):
			lang = "en"
		default:
			continue
		}
		if q > bestQ && q > 0 {
			best, bestQ = lang, q
		}
	}
	return best
}
