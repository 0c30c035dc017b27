ALTER TABLE "rooms" ADD COLUMN "member_removals" bigint DEFAULT 0 NOT NULL;--> statement-breakpoint
-- The member-count trigger (0003) also counts removals, in the same UPDATE of the rooms row:
-- an instance re-checks the memberships behind its open sockets only in rooms where it moved.
CREATE OR REPLACE FUNCTION "room_member_count"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    UPDATE "rooms" SET "member_count" = "member_count" + 1 WHERE "id" = NEW."room_id";
  ELSE
    UPDATE "rooms" SET "member_count" = "member_count" - 1, "member_removals" = "member_removals" + 1 WHERE "id" = OLD."room_id";
  END IF;
  RETURN NULL;
END
$$;
