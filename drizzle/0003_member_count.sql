ALTER TABLE "rooms" ADD COLUMN "member_count" integer DEFAULT 0 NOT NULL;--> statement-breakpoint
-- Every room's members, counted once here; from now on the trigger below keeps the count.
UPDATE "rooms" SET "member_count" = (SELECT count(*) FROM "room_members" m WHERE m."room_id" = "rooms"."id");--> statement-breakpoint
-- Whatever code path adds or removes a member, the count follows in the same transaction.
-- The rooms row is updated without touching a key column (FOR NO KEY UPDATE), so it does not
-- conflict with the foreign-key checks (FOR KEY SHARE) of a concurrent send or join.
CREATE FUNCTION "room_member_count"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE "rooms" SET "member_count" = "member_count" + 1 WHERE "id" = NEW."room_id";
  ELSE
    UPDATE "rooms" SET "member_count" = "member_count" - 1 WHERE "id" = OLD."room_id";
  END IF;
  RETURN NULL;
END
$$;--> statement-breakpoint
CREATE TRIGGER "room_members_count" AFTER INSERT OR DELETE ON "room_members" FOR EACH ROW EXECUTE FUNCTION "room_member_count"();
