package web

// The texts of the webmail pages (mail.go), merged into messages.
var mailMessages = map[string]map[string]string{
	"en": {
		"nav_mail":            "Mail",
		"nav_settings":        "Settings",
		"mail_folders":        "Folders",
		"mail_unread":         "unread",
		"mail_search":         "Search sender, recipients, subject, text",
		"mail_search_button":  "Search",
		"mail_no_subject":     "(no subject)",
		"mail_newer":          "Newer",
		"mail_older":          "Older",
		"mail_empty":          "No messages.",
		"mail_from":           "From",
		"mail_to":             "To",
		"mail_cc":             "Cc",
		"mail_date":           "Date",
		"mail_mark_unread":    "Mark unread",
		"mail_flag":           "Flag",
		"mail_unflag":         "Unflag",
		"mail_delete":         "Delete",
		"mail_move":           "Move to",
		"mail_images_blocked": "Remote images are blocked, so the sender cannot see that you opened this message.",
		"mail_images_allow":   "Show images",
		"mail_body":           "Message",
		"mail_attachments":    "Attachments",
		"mail_attachment":     "Part",
		"mail_gone":           "This message was moved or deleted elsewhere.",
	},
	"zh": {
		"nav_mail":            "邮件",
		"nav_settings":        "设置",
		"mail_folders":        "文件夹",
		"mail_unread":         "未读",
		"mail_search":         "搜索发件人、收件人、主题、正文",
		"mail_search_button":  "搜索",
		"mail_no_subject":     "（无主题）",
		"mail_newer":          "较新",
		"mail_older":          "较早",
		"mail_empty":          "没有邮件。",
		"mail_from":           "发件人",
		"mail_to":             "收件人",
		"mail_cc":             "抄送",
		"mail_date":           "日期",
		"mail_mark_unread":    "标为未读",
		"mail_flag":           "加星标",
		"mail_unflag":         "取消星标",
		"mail_delete":         "删除",
		"mail_move":           "移动到",
		"mail_images_blocked": "已阻止远程图片，发件人无法知道您是否打开了这封邮件。",
		"mail_images_allow":   "显示图片",
		"mail_body":           "邮件正文",
		"mail_attachments":    "附件",
		"mail_attachment":     "部分",
		"mail_gone":           "这封邮件已在别处被移动或删除。",
	},
}

func init() {
	for lang, msgs := range mailMessages {
		for k, v := range msgs {
			messages[lang][k] = v
		}
	}
}
