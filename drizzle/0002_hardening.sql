ALTER TABLE "room_members" ALTER COLUMN "role" SET DATA TYPE text;--> statement-breakpoint
ALTER TABLE "room_members" ALTER COLUMN "role" SET DEFAULT 'member'::text;--> statement-breakpoint
-- The admin role could never be given; any row that has it by hand becomes a plain member.
UPDATE "room_members" SET "role" = 'member' WHERE "role" = 'admin';--> statement-breakpoint
DROP TYPE "public"."member_role";--> statement-breakpoint
CREATE TYPE "public"."member_role" AS ENUM('owner', 'member');--> statement-breakpoint
ALTER TABLE "room_members" ALTER COLUMN "role" SET DEFAULT 'member'::"public"."member_role";--> statement-breakpoint
ALTER TABLE "room_members" ALTER COLUMN "role" SET DATA TYPE "public"."member_role" USING "role"::"public"."member_role";--> statement-breakpoint
DROP INDEX "rooms_slug_key";--> statement-breakpoint
CREATE UNIQUE INDEX "rooms_public_slug_key" ON "rooms" USING btree ("slug") WHERE not "rooms"."is_private";--> statement-breakpoint
CREATE UNIQUE INDEX "rooms_private_slug_key" ON "rooms" USING btree ("slug","created_by") WHERE "rooms"."is_private";--> statement-breakpoint
CREATE INDEX "rooms_slug_idx" ON "rooms" USING btree ("slug","created_at");