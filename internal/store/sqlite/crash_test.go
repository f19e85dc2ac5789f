package sqlite

const crashChildEnv = "YOUJU_SQLITE_CRASH_CHILD"

func crashChild() {}
