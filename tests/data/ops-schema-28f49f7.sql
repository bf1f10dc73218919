-- The operational store's schema as main's models created it before migrations existed
-- (commit 28f49f7): tests/test_ops_migrations.py upgrades a database made from it.
CREATE TABLE surveys (
	survey_id VARCHAR(128) NOT NULL, 
	version INTEGER NOT NULL, 
	definition JSON NOT NULL, 
	active BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (survey_id)
);
CREATE TABLE event_inbox (
	event_id VARCHAR(256) NOT NULL, 
	received_at DATETIME NOT NULL, 
	payload JSON NOT NULL, 
	exported_at DATETIME, 
	PRIMARY KEY (event_id)
);
CREATE INDEX ix_event_inbox_export ON event_inbox (exported_at);
CREATE TABLE audit_log (
	id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	actor VARCHAR(128) NOT NULL, 
	action VARCHAR(64) NOT NULL, 
	object_type VARCHAR(64) NOT NULL, 
	object_id VARCHAR(256), 
	detail JSON NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE alerts (
	alert_id INTEGER NOT NULL, 
	rule_id VARCHAR(128) NOT NULL, 
	kind VARCHAR(32) NOT NULL, 
	subject VARCHAR(512) NOT NULL, 
	feedback_id VARCHAR(256), 
	store_id VARCHAR(256), 
	region VARCHAR(256), 
	touchpoint VARCHAR(256), 
	owner VARCHAR(128), 
	priority VARCHAR(16) NOT NULL, 
	title VARCHAR(512) NOT NULL, 
	detail JSON NOT NULL, 
	dedup_key VARCHAR(700) NOT NULL, 
	created_at DATETIME NOT NULL, 
	delivered_at DATETIME, 
	delivery_error TEXT, 
	status VARCHAR(16) NOT NULL, 
	case_id INTEGER, 
	PRIMARY KEY (alert_id), 
	UNIQUE (dedup_key)
);
CREATE INDEX ix_alerts_store_created ON alerts (store_id, created_at);
CREATE TABLE action_plans (
	plan_id INTEGER NOT NULL, 
	name VARCHAR(256) NOT NULL, 
	driver VARCHAR(128), 
	touchpoint VARCHAR(256), 
	metric VARCHAR(32) NOT NULL, 
	stores JSON NOT NULL, 
	control_stores JSON, 
	start_date DATE NOT NULL, 
	end_date DATE, 
	owner VARCHAR(128), 
	status VARCHAR(16) NOT NULL, 
	notes TEXT, 
	created_by VARCHAR(128) NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (plan_id)
);
CREATE TABLE act_cursors (
	name VARCHAR(128) NOT NULL, 
	value DATETIME, 
	updated_at DATETIME NOT NULL, 
	PRIMARY KEY (name)
);
CREATE TABLE users (
	user_id INTEGER NOT NULL, 
	username VARCHAR(128) NOT NULL, 
	password_hash VARCHAR(256) NOT NULL, 
	role VARCHAR(32) NOT NULL, 
	stores JSON NOT NULL, 
	active BOOLEAN NOT NULL, 
	session_version INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	last_login_at DATETIME, 
	PRIMARY KEY (user_id), 
	UNIQUE (username)
);
CREATE TABLE invitations (
	token VARCHAR(64) NOT NULL, 
	survey_id VARCHAR(128) NOT NULL, 
	customer_id VARCHAR(256), 
	anonymous_id VARCHAR(256), 
	store_id VARCHAR(256), 
	touchpoint VARCHAR(256), 
	channel VARCHAR(256), 
	order_id VARCHAR(256), 
	language VARCHAR(16), 
	trigger_id VARCHAR(128), 
	event_id VARCHAR(256), 
	send_via VARCHAR(16), 
	contact VARCHAR(1024), 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME, 
	send_after DATETIME, 
	sent_at DATETIME, 
	send_error TEXT, 
	responded_at DATETIME, 
	PRIMARY KEY (token), 
	CONSTRAINT uq_invitations_trigger_event UNIQUE (trigger_id, event_id), 
	FOREIGN KEY(survey_id) REFERENCES surveys (survey_id)
);
CREATE INDEX ix_invitations_customer_created ON invitations (customer_id, created_at);
CREATE INDEX ix_invitations_pending ON invitations (sent_at, send_after);
CREATE TABLE cases (
	case_id INTEGER NOT NULL, 
	title VARCHAR(512) NOT NULL, 
	alert_id INTEGER, 
	feedback_id VARCHAR(256), 
	customer_id VARCHAR(256), 
	store_id VARCHAR(256), 
	region VARCHAR(256), 
	touchpoint VARCHAR(256), 
	status VARCHAR(16) NOT NULL, 
	assignee VARCHAR(128), 
	priority VARCHAR(16) NOT NULL, 
	sla_due_at DATETIME, 
	escalated_at DATETIME, 
	escalation_level INTEGER NOT NULL, 
	root_causes JSON NOT NULL, 
	resolution TEXT, 
	follow_up_at DATETIME, 
	follow_up_notes TEXT, 
	created_by VARCHAR(128) NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	resolved_at DATETIME, 
	PRIMARY KEY (case_id), 
	FOREIGN KEY(alert_id) REFERENCES alerts (alert_id)
);
CREATE INDEX ix_cases_store_status ON cases (store_id, status);
CREATE INDEX ix_cases_sla ON cases (status, sla_due_at);
CREATE TABLE api_keys (
	key_id INTEGER NOT NULL, 
	key_hash VARCHAR(64) NOT NULL, 
	prefix VARCHAR(16) NOT NULL, 
	name VARCHAR(128) NOT NULL, 
	user_id INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	last_used_at DATETIME, 
	revoked BOOLEAN NOT NULL, 
	PRIMARY KEY (key_id), 
	UNIQUE (key_hash), 
	FOREIGN KEY(user_id) REFERENCES users (user_id)
);
CREATE TABLE responses (
	response_id VARCHAR(64) NOT NULL, 
	survey_id VARCHAR(128) NOT NULL, 
	survey_version INTEGER NOT NULL, 
	token VARCHAR(64), 
	status VARCHAR(16) NOT NULL, 
	page INTEGER NOT NULL, 
	answers JSON NOT NULL, 
	language VARCHAR(16), 
	store_id VARCHAR(256), 
	touchpoint VARCHAR(256), 
	channel VARCHAR(256), 
	customer_id VARCHAR(256), 
	anonymous_id VARCHAR(256), 
	order_id VARCHAR(256), 
	kiosk BOOLEAN NOT NULL, 
	started_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	submitted_at DATETIME, 
	exported_at DATETIME, 
	PRIMARY KEY (response_id), 
	FOREIGN KEY(survey_id) REFERENCES surveys (survey_id), 
	UNIQUE (token), 
	FOREIGN KEY(token) REFERENCES invitations (token)
);
CREATE INDEX ix_responses_export ON responses (status, exported_at);
CREATE TABLE case_notes (
	note_id INTEGER NOT NULL, 
	case_id INTEGER NOT NULL, 
	author VARCHAR(128) NOT NULL, 
	text TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	PRIMARY KEY (note_id), 
	FOREIGN KEY(case_id) REFERENCES cases (case_id)
);
CREATE INDEX ix_case_notes_case_id ON case_notes (case_id);
