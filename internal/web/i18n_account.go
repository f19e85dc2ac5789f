package web

// The texts of the password, TOTP and SMTP parts of the settings page,
// merged into messages.
var accountMessages = map[string]map[string]string{
	"en": {
		"allow_smtp":            "Allow sending with mail apps (SMTP submission)",
		"security_heading":      "Password and sign-in",
		"password_change":       "Change password",
		"password_old":          "Current password",
		"password_new":          "New password",
		"password_again":        "New password again",
		"password_rule":         "At least 10 characters, and not a common password. A few unrelated words make a good one. Other browsers signed in to this page are signed out; app passwords keep working.",
		"err_old_password":      "The current password is wrong.",
		"err_password_mismatch": "The two new passwords differ.",
		"err_password_weak":     "That password is too short: use at least 10 characters.",
		"err_password_common":   "That password is among the most common ones: choose another.",
		"notice_password":       "Password changed. Mail apps that use it need the new one; app passwords still work.",
		"totp_heading":          "Two-step sign-in",
		"totp_code":             "6-digit code from your authenticator app",
		"totp_on":               "On: signing in to this page asks for a code from your authenticator app.",
		"totp_off":              "Off. Turn it on to ask for a code from an authenticator app (Google Authenticator, Microsoft Authenticator, 1Password…) after the password.",
		"totp_setup":            "Set up two-step sign-in",
		"totp_setup_intro":      "Add this account to your authenticator app: open the link on the phone, or type the key in the app. Then enter the code it shows.",
		"totp_open_app":         "Open in the authenticator app",
		"totp_secret":           "Key:",
		"totp_enable":           "Turn on",
		"totp_disable":          "Turn off two-step sign-in",
		"err_totp":              "That code is wrong or was used already. Please sign in again.",
		"notice_totp_on":        "Two-step sign-in is on.",
		"notice_totp_off":       "Two-step sign-in is off.",
	},
	"zh": {
		"allow_smtp":            "允许用邮件客户端发信（SMTP）",
		"security_heading":      "密码与登录",
		"password_change":       "修改密码",
		"password_old":          "当前密码",
		"password_new":          "新密码",
		"password_again":        "再次输入新密码",
		"password_rule":         "至少 10 个字符，且不能是常见密码。几个不相关的词连在一起就很好。其他已登录本页面的浏览器会被退出；应用专用密码继续有效。",
		"err_old_password":      "当前密码不正确。",
		"err_password_mismatch": "两次输入的新密码不一致。",
		"err_password_weak":     "密码太短：至少需要 10 个字符。",
		"err_password_common":   "这是最常见的密码之一，请换一个。",
		"notice_password":       "密码已修改。使用账户密码的客户端需要输入新密码；应用专用密码仍然有效。",
		"totp_heading":          "两步验证",
		"totp_code":             "身份验证器应用显示的 6 位验证码",
		"totp_on":               "已开启：登录本页面时需要输入身份验证器应用中的验证码。",
		"totp_off":              "未开启。开启后，输入密码后还需输入身份验证器应用（如 Google 身份验证器、微软 Authenticator、腾讯身份验证器）中的验证码。",
		"totp_setup":            "设置两步验证",
		"totp_setup_intro":      "把本账户添加到身份验证器应用：在手机上打开下面的链接，或在应用中手动输入密钥。然后输入应用显示的验证码。",
		"totp_open_app":         "在身份验证器应用中打开",
		"totp_secret":           "密钥：",
		"totp_enable":           "开启",
		"totp_disable":          "关闭两步验证",
		"err_totp":              "验证码错误或已使用过，请重新登录。",
		"notice_totp_on":        "两步验证已开启。",
		"notice_totp_off":       "两步验证已关闭。",
	},
}

func init() {
	for lang, msgs := range accountMessages {
		for k, v := range msgs {
			messages[lang][k] = v
		}
	}
}
