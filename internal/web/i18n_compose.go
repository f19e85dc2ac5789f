package web

// The texts of compose, drafts and shortcuts (compose.go), merged into
// messages.
var composeMessages = map[string]map[string]string{
	"en": {
		"compose_title":       "Write",
		"compose_reply":       "Reply",
		"compose_reply_all":   "Reply all",
		"compose_forward":     "Forward",
		"compose_bcc":         "Bcc",
		"compose_subject":     "Subject",
		"compose_attach":      "Attach files",
		"compose_max":         "At most, attachments included:",
		"compose_send":        "Send",
		"compose_save":        "Save draft",
		"compose_saved":       "Draft saved.",
		"compose_forwarded":   "The original message is attached:",
		"compose_err_address": "An address is not valid:",
		"compose_err_norcpt":  "Add at least one recipient.",
		"compose_err_send":    "The message was not sent (it is saved in Drafts). The server said:",
		"compose_err_large":   "The message is larger than the server accepts. Attach fewer or smaller files.",
		"keys_title":          "Keyboard shortcuts",
		"keys_next":           "next / previous message",
		"keys_open":           "open the message",
		"keys_back":           "back to the list",
		"keys_close":          "Close",
		"keys_hint":           "Press ? for keyboard shortcuts.",
		"mail_new":            "New mail",
		"mail_sent":           "Message sent.",
		"mail_sent_unsaved":   "The message was sent, but it could not be saved to Sent.",
	},
	"zh": {
		"compose_title":       "写信",
		"compose_reply":       "回复",
		"compose_reply_all":   "回复全部",
		"compose_forward":     "转发",
		"compose_bcc":         "密送",
		"compose_subject":     "主题",
		"compose_attach":      "添加附件",
		"compose_max":         "邮件（含附件）最大：",
		"compose_send":        "发送",
		"compose_save":        "存草稿",
		"compose_saved":       "草稿已保存。",
		"compose_forwarded":   "原邮件作为附件：",
		"compose_err_address": "有地址无效：",
		"compose_err_norcpt":  "请至少填写一个收件人。",
		"compose_err_send":    "邮件未发出（已存入草稿箱）。服务器回复：",
		"compose_err_large":   "邮件超过服务器允许的大小，请减少或缩小附件。",
		"keys_title":          "快捷键",
		"keys_next":           "下一封 / 上一封",
		"keys_open":           "打开邮件",
		"keys_back":           "返回列表",
		"keys_close":          "关闭",
		"keys_hint":           "按 ? 查看快捷键。",
		"mail_new":            "新邮件",
		"mail_sent":           "邮件已发送。",
		"mail_sent_unsaved":   "邮件已发送，但未能保存到已发送。",
	},
}

func init() {
	for lang, msgs := range composeMessages {
		for k, v := range msgs {
			messages[lang][k] = v
		}
	}
}
