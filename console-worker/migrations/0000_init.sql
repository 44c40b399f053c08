CREATE TABLE `accounts` (
	`id` text PRIMARY KEY NOT NULL,
	`username` text NOT NULL,
	`username_key` text NOT NULL,
	`password_hash` text NOT NULL,
	`password_salt` text NOT NULL,
	`password_iterations` integer NOT NULL,
	`is_admin` integer DEFAULT false NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `accounts_username_key` ON `accounts` (`username_key`);--> statement-breakpoint
CREATE TABLE `dashboard_sessions` (
	`id_hash` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`created_at` integer NOT NULL,
	`expires_at` integer NOT NULL,
	FOREIGN KEY (`account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE INDEX `dashboard_sessions_account` ON `dashboard_sessions` (`account_id`);--> statement-breakpoint
CREATE TABLE `tasks` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`request_id` text,
	`command_id` text NOT NULL,
	`capability` text NOT NULL,
	`status` text NOT NULL,
	`input` text NOT NULL,
	`result` text,
	`error_code` text,
	`error_message` text,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	`deadline_at` integer NOT NULL,
	`completed_at` integer,
	FOREIGN KEY (`account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tasks_account_request` ON `tasks` (`account_id`,`request_id`);--> statement-breakpoint
CREATE INDEX `tasks_account_created` ON `tasks` (`account_id`,`created_at`);--> statement-breakpoint
CREATE INDEX `tasks_status` ON `tasks` (`status`);--> statement-breakpoint
CREATE TABLE `terminal_sessions` (
	`id` text NOT NULL,
	`account_id` text NOT NULL,
	`node_id` text NOT NULL,
	`created_at` integer NOT NULL,
	`last_used_at` integer NOT NULL,
	`lease_expires_at` integer NOT NULL,
	FOREIGN KEY (`account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `terminal_sessions_pk` ON `terminal_sessions` (`account_id`,`id`);--> statement-breakpoint
CREATE INDEX `terminal_sessions_node` ON `terminal_sessions` (`node_id`);--> statement-breakpoint
CREATE TABLE `tokens` (
	`id` text PRIMARY KEY NOT NULL,
	`account_id` text NOT NULL,
	`name` text NOT NULL,
	`name_key` text NOT NULL,
	`token_hash` text NOT NULL,
	`token_masked` text NOT NULL,
	`created_at` integer NOT NULL,
	`updated_at` integer NOT NULL,
	FOREIGN KEY (`account_id`) REFERENCES `accounts`(`id`) ON UPDATE no action ON DELETE cascade
);
--> statement-breakpoint
CREATE UNIQUE INDEX `tokens_hash` ON `tokens` (`token_hash`);--> statement-breakpoint
CREATE UNIQUE INDEX `tokens_account_name` ON `tokens` (`account_id`,`name_key`);--> statement-breakpoint
CREATE TABLE `workers` (
	`node_id` text PRIMARY KEY NOT NULL,
	`secret_hash` text NOT NULL,
	`node_name` text DEFAULT '' NOT NULL,
	`executor_kind` text DEFAULT '' NOT NULL,
	`capabilities` text DEFAULT '[]' NOT NULL,
	`labels` text DEFAULT '{}' NOT NULL,
	`version` text DEFAULT '' NOT NULL,
	`status` text DEFAULT 'offline' NOT NULL,
	`registered_at` integer NOT NULL,
	`last_seen_at` integer,
	`created_by` text
);
--> statement-breakpoint
CREATE INDEX `workers_status` ON `workers` (`status`);