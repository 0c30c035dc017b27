-- Every installation starts with one public room that everybody can join.
INSERT INTO "rooms" ("id", "slug", "name", "is_private")
VALUES (gen_random_uuid(), 'general', 'General', false)
ON CONFLICT DO NOTHING;
