-- ferry_abparts_generate: synthetic BEFORE data for the ABParts restructuring.
--
-- Run this file (psql -v ON_ERROR_STOP=1 -f generate.sql, or as one batch) on a database that
-- holds ONLY the BEFORE schema: the text of fixtures/abparts/before.sql before its line
-- `-- ferry: end of schema`. It defines one session-local function and calls nothing:
--
--   pg_temp.ferry_abparts_generate(orgs int, users int, parts int, machines int,
--                                  inventory int, stop_dirt boolean) RETURNS void
--
-- The caller then runs, in the same session, e.g.
--   SELECT pg_temp.ferry_abparts_generate(3, 5, 10, 2, 20, false);
--
-- The sizes of the reference's five test samples (/work/shared/reference/abparts.md
-- section 7, migration_tester.py); the caller passes these numbers:
--
--   sample             orgs  users  parts  machines  inventory
--   minimal_sample        3      5     10         2         20
--   small_sample         10     25     50        15        100
--   medium_sample        25     75    100        50        500
--   large_sample         50    150    200       100       1000
--   production_scale    100    200    200       150       7500
--
-- Unlike the tester (which writes the AFTER model), this fills the BEFORE tables, with the
-- free-text spellings the mapping rules (config/abparts/mapping.json) must normalise.
-- The tables must be empty (else it raises). Set-based (generate_series, no loop over rows).
-- From 100,000 inventory rows on, inventory's primary key, unique key, foreign keys and index
-- are dropped for the load and re-created afterwards from their own definitions (same names
-- and text, so the catalog is unchanged; the caller must own the table): 1,000,000 rows then
-- take about 9 s on 2 busy cores, against about 30 s with row-by-row index and foreign-key
-- maintenance. Deterministic: the same arguments give the same rows, the same
-- UUIDs (md5 of '<kind>-<n>', e.g. md5('org-7')::uuid) and the same timestamps (created_at =
-- updated_at = 2025-07-01 00:00:00+00, dates of orders fixed); no random(), no
-- uuid_generate_v4(), no now(). n below is 1-based.
--
-- organizations  exactly `orgs` (>= 1). n = 1: 'Oraseas EE', type 'Warehouse'. Then, with
--                k = n - 1: k mod 10 = 2 is a supplier ("Supplier <s> Ltd", s-th supplier;
--                type 'Supplier' / 'SUPPLIER ' / 'supplier' in turn), every other one a
--                customer ("Customer Organization <c>", c-th customer; type 'Customer' /
--                'customer' / ' Customer  ' / 'CUSTOMER' in turn). So about 1 in 10 of the
--                others are suppliers, and orgs >= 3 gives at least one of each (n = 2
--                customer, n = 3 supplier). Address "<100+n> Business St, City <n>",
--                contact_info "+64 9 555 <n>". No BossAqua (the migration creates it).
-- users          exactly `users` (>= 1). n = 1: 'superadmin' in Oraseas EE, 'Oraseas Admin'.
--                n >= 2: organization ((n - 1) mod orgs) + 1, round-robin, so user n (n <= orgs)
--                is the first user of organization n; users < orgs leaves organizations
--                without users. First user of a customer: 'Customer Admin' / 'CUSTOMER ADMIN'
--                / 'customer admin'; later ones 'Customer User' / 'Customer  User' /
--                ' customer user '. Suppliers: 'Supplier User' / 'SupplierUser'. Oraseas EE's
--                later users: 'Oraseas Admin' / 'oraseas admin'. Username 'user_<n>', e-mail
--                'user_<n>@example.com' (superadmin: 'superadmin@example.com'), name
--                'User <n>', one fixed bcrypt-looking password_hash.
-- parts          exactly `parts` (>= 0). 'PART-0001'..., template (n - 1) mod 10: Filter, Belt,
--                Oil, Chemical, Gasket, Hose, Pump, Valve, Sensor, Cleaner; name "<Template>
--                <n>", description "Test <template> part <n>"; is_proprietary for Belt,
--                Chemical, Pump, Sensor; is_consumable for all but Pump and Valve (durable).
--                Every one is classified by a name_words_any rule of mapping.json.
-- machines       exactly `machines` (>= 0). Round-robin over the customer organizations (in
--                order); model 'V3.1B' for n odd (0-based index even), 'V4.0' for n even; name
--                "AutoBoss Machine <n>", serial 'AB-000001'.... With machines >= 2 the LAST
--                one belongs to Oraseas EE (a non-customer owner: kept and warned). Without
--                a customer (orgs = 1) every machine belongs to Oraseas EE.
-- inventory      exactly `inventory` (>= 0) rows over distinct (organization, part) pairs:
--                row n -> organization ((n - 1) mod orgs) + 1, part ((n - 1) div orgs) + 1;
--                raises if inventory > orgs * parts. current_stock 10 + (n mod 100) but 0 for
--                every 50th row; minimum_stock_recommendation 5 + (n mod 20);
--                reorder_threshold_set_by 'system'; location NULL but 'Rack <n>' for every
--                97th row. Suppliers hold rows too (not migrated, only reported).
-- supplier_orders  max(1, orgs div 5) orders by Oraseas EE to "Supplier <s> Ltd" in turn
--                ('AutoParts Ltd' when there is no supplier), status Pending / Shipped /
--                Delivered, 3 lines each (integer quantity, unit_price) when parts >= 1.
-- customer_orders  max(1, orgs div 10) orders (none without a customer) of the customers in
--                turn to Oraseas EE, ordered_by the customer's first user when it exists, 2
--                lines each when parts >= 1.
-- part_usage     max(1, machines div 5) rows (none without a customer, machine or part):
--                row n uses machine n (a customer's) in its owner's name, quantity_used 1-3.
--
-- stop_dirt = true changes existing rows (the counts stay exact) into values a careful
-- migration must refuse (step 1 stop checks); needs orgs >= 2, users >= 4, parts >= 1,
-- inventory >= 1, else it raises. With stop_dirt = false none of these exist.
--   - the last customer organization gets type 'Distributor'     (unmapped_organization_type)
--     (it keeps its users, machines, inventory; with orgs = 3 it is the only customer)
--   - the last user (n = users) gets role 'Technician'            (unmapped_user_role)
--   - user 3's e-mail becomes 'User_2@Example.com', user 2's
--     'user_2@example.com' but for case                           (duplicate_emails_ignoring_case)
--   - the last part becomes 'Antifouling Coating <n>', consumable,
--     not proprietary: no mapping rule matches it                 (unclassified_part)
--   - inventory row min(2, inventory) gets current_stock -3       (negative_stock)

CREATE OR REPLACE FUNCTION pg_temp.ferry_abparts_generate(
    orgs int, users int, parts int, machines int, inventory int, stop_dirt boolean)
RETURNS void
LANGUAGE plpgsql
AS $fn$
DECLARE
    -- Copies under other names: the parameters are named like the tables.
    n_org  int := $1;
    n_usr  int := $2;
    n_prt  int := $3;
    n_mch  int := $4;
    n_inv  int := $5;
    dirt   boolean := $6;
    n_sup  int;          -- supplier organizations
    n_cus  int;          -- customer organizations
    last_cus int;        -- index of the last customer organization
    ts     timestamptz := '2025-07-01 00:00:00+00';
    pw     text := '$2b$12$ferryabpartsgeneratedhashAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
    t      text;
    nonempty boolean;
    org_ids  uuid[];
    part_ids uuid[];
    fast     boolean;
    key_add  text[];
    fk_add   text[];
    ddl_drop text[];
    idx_add  text[];
    idx_drop text[];
BEGIN
    IF n_org IS NULL OR n_usr IS NULL OR n_prt IS NULL OR n_mch IS NULL OR n_inv IS NULL
       OR dirt IS NULL THEN
        RAISE EXCEPTION 'ferry_abparts_generate: no argument may be NULL';
    END IF;
    IF n_org < 1 OR n_usr < 1 OR n_prt < 0 OR n_mch < 0 OR n_inv < 0 THEN
        RAISE EXCEPTION 'ferry_abparts_generate: need orgs >= 1, users >= 1, parts >= 0, machines >= 0, inventory >= 0 (got %, %, %, %, %)',
            n_org, n_usr, n_prt, n_mch, n_inv;
    END IF;
    IF n_inv::bigint > n_org::bigint * n_prt::bigint THEN
        RAISE EXCEPTION 'ferry_abparts_generate: % inventory rows need % distinct (organization, part) pairs, but % organizations x % parts give only %',
            n_inv, n_inv, n_org, n_prt, n_org::bigint * n_prt::bigint;
    END IF;
    IF dirt AND (n_org < 2 OR n_usr < 4 OR n_prt < 1 OR n_inv < 1) THEN
        RAISE EXCEPTION 'ferry_abparts_generate: stop_dirt needs orgs >= 2, users >= 4, parts >= 1, inventory >= 1 (got %, %, %, %)',
            n_org, n_usr, n_prt, n_inv;
    END IF;
    FOREACH t IN ARRAY ARRAY['organizations', 'users', 'machines', 'parts', 'inventory',
                             'supplier_orders', 'supplier_order_items', 'customer_orders',
                             'customer_order_items', 'part_usage'] LOOP
        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I)', t) INTO nonempty;
        IF nonempty THEN
            RAISE EXCEPTION 'ferry_abparts_generate: table % is not empty (load only the BEFORE schema)', t;
        END IF;
    END LOOP;

    -- k = n - 1 in 1..orgs-1; supplier iff k mod 10 = 2.
    n_sup := (n_org + 7) / 10;
    n_cus := n_org - 1 - n_sup;
    last_cus := CASE WHEN n_org < 2 THEN NULL
                     WHEN (n_org - 1) % 10 = 2 THEN n_org - 1 ELSE n_org END;

    -- organizations ------------------------------------------------------------------------
    INSERT INTO organizations (id, name, type, address, contact_info, created_at, updated_at)
    SELECT md5('org-' || o.n)::uuid,
           CASE o.kind WHEN 'oraseas' THEN 'Oraseas EE'
                       WHEN 'supplier' THEN 'Supplier ' || o.kn || ' Ltd'
                       ELSE 'Customer Organization ' || o.kn END,
           CASE WHEN o.kind = 'oraseas' THEN 'Warehouse'
                WHEN o.kind = 'supplier'
                    THEN (ARRAY['Supplier', 'SUPPLIER ', 'supplier'])[(o.kn - 1) % 3 + 1]
                WHEN dirt AND o.n = last_cus THEN 'Distributor'
                ELSE (ARRAY['Customer', 'customer', ' Customer  ', 'CUSTOMER'])[(o.kn - 1) % 4 + 1]
           END,
           CASE WHEN o.n = 1 THEN '123 Main St, Athens, Greece'
                ELSE (100 + o.n) || ' Business St, City ' || o.n END,
           '+64 9 555 ' || lpad(o.n::text, greatest(4, length(o.n::text)), '0'),
           ts, ts
    FROM (SELECT g.n, g.kind, row_number() OVER (PARTITION BY g.kind ORDER BY g.n) AS kn
          FROM (SELECT s AS n,
                       CASE WHEN s = 1 THEN 'oraseas'
                            WHEN (s - 1) % 10 = 2 THEN 'supplier'
                            ELSE 'customer' END AS kind
                FROM generate_series(1, n_org) AS s) g) o
    ORDER BY o.n;

    -- users --------------------------------------------------------------------------------
    INSERT INTO users (id, organization_id, username, password_hash, email, name, role,
                       created_at, updated_at)
    SELECT md5('user-' || u.n)::uuid,
           md5('org-' || u.org)::uuid,
           CASE WHEN u.n = 1 THEN 'superadmin' ELSE 'user_' || u.n END,
           pw,
           CASE WHEN u.n = 1 THEN 'superadmin@example.com'
                WHEN dirt AND u.n = 3 THEN 'User_2@Example.com'
                ELSE 'user_' || u.n || '@example.com' END,
           CASE WHEN u.n = 1 THEN 'Super Admin' ELSE 'User ' || u.n END,
           CASE WHEN u.n = 1 THEN 'Oraseas Admin'
                WHEN dirt AND u.n = n_usr THEN 'Technician'
                WHEN u.org = 1
                    THEN (ARRAY['Oraseas Admin', 'oraseas admin'])[u.n % 2 + 1]
                WHEN (u.org - 1) % 10 = 2
                    THEN (ARRAY['Supplier User', 'SupplierUser'])[u.n % 2 + 1]
                WHEN u.r = 0
                    THEN (ARRAY['Customer Admin', 'CUSTOMER ADMIN', 'customer admin'])[u.org % 3 + 1]
                ELSE (ARRAY['Customer User', 'Customer  User', ' customer user '])[u.n % 3 + 1]
           END,
           ts, ts
    FROM (SELECT s AS n,
                 CASE WHEN s = 1 THEN 1 ELSE (s - 1) % n_org + 1 END AS org,
                 CASE WHEN s = 1 THEN 0 ELSE (s - 1) / n_org END AS r
          FROM generate_series(1, n_usr) AS s) u
    ORDER BY u.n;

    -- parts --------------------------------------------------------------------------------
    INSERT INTO parts (id, part_number, name, description, is_proprietary, is_consumable,
                       manufacturer_delivery_time_days, local_supplier_delivery_time_days,
                       image_urls, created_at, updated_at)
    SELECT md5('part-' || p.n)::uuid,
           'PART-' || lpad(p.n::text, greatest(4, length(p.n::text)), '0'),
           CASE WHEN p.ad THEN 'Antifouling Coating ' || p.n ELSE p.tpl || ' ' || p.n END,
           CASE WHEN p.ad THEN 'Test antifouling part ' || p.n
                ELSE 'Test ' || lower(p.tpl) || ' part ' || p.n END,
           NOT p.ad AND p.tpl IN ('Belt', 'Chemical', 'Pump', 'Sensor'),
           p.ad OR p.tpl NOT IN ('Pump', 'Valve'),
           CASE WHEN NOT p.ad AND p.tpl IN ('Belt', 'Chemical', 'Pump', 'Sensor') THEN 30 END,
           CASE WHEN p.ad OR p.tpl NOT IN ('Belt', 'Chemical', 'Pump', 'Sensor') THEN 5 END,
           NULL,
           ts, ts
    FROM (SELECT s AS n,
                 (ARRAY['Filter', 'Belt', 'Oil', 'Chemical', 'Gasket', 'Hose', 'Pump', 'Valve',
                        'Sensor', 'Cleaner'])[(s - 1) % 10 + 1] AS tpl,
                 dirt AND s = n_prt AS ad
          FROM generate_series(1, n_prt) AS s) p
    ORDER BY p.n;

    -- machines -----------------------------------------------------------------------------
    WITH cus AS (
        SELECT s AS org, row_number() OVER (ORDER BY s) AS c
        FROM generate_series(2, n_org) AS s
        WHERE (s - 1) % 10 <> 2)
    INSERT INTO machines (id, organization_id, model_type, name, serial_number,
                          created_at, updated_at)
    SELECT md5('machine-' || m.n)::uuid,
           md5('org-' || coalesce(cus.org, 1))::uuid,
           CASE WHEN (m.n - 1) % 2 = 0 THEN 'V3.1B' ELSE 'V4.0' END,
           'AutoBoss Machine ' || m.n,
           'AB-' || lpad(m.n::text, greatest(6, length(m.n::text)), '0'),
           ts, ts
    FROM generate_series(1, n_mch) AS m(n)
    LEFT JOIN cus ON n_cus > 0
                 AND NOT (n_mch >= 2 AND m.n = n_mch)
                 AND cus.c = (m.n - 1) % n_cus + 1
    ORDER BY m.n;

    -- inventory ----------------------------------------------------------------------------
    -- Organization and part ids come from two arrays (an md5 per row costs more). From
    -- 100,000 rows on, the table's keys and indexes are dropped for the load and re-created
    -- from their own definitions (same names, same text) afterwards: building an index once
    -- and checking a foreign key with one join is several times faster than 1,000,000
    -- row-by-row index insertions and foreign-key trigger checks. Not done when another table
    -- references inventory (none does in the BEFORE schema).
    org_ids := ARRAY(SELECT md5('org-' || s)::uuid FROM generate_series(1, n_org) AS s ORDER BY s);
    part_ids := ARRAY(SELECT md5('part-' || s)::uuid FROM generate_series(1, n_prt) AS s ORDER BY s);
    fast := n_inv >= 100000
            AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                            WHERE c.confrelid = 'inventory'::regclass);
    IF fast THEN
        SELECT coalesce(array_agg(format('ALTER TABLE %s ADD CONSTRAINT %I %s',
                                         'inventory'::regclass, c.conname,
                                         pg_get_constraintdef(c.oid))
                                  ORDER BY c.contype, c.conname)
                        FILTER (WHERE c.contype <> 'f'), '{}'),
               coalesce(array_agg(format('ALTER TABLE %s ADD CONSTRAINT %I %s',
                                         'inventory'::regclass, c.conname,
                                         pg_get_constraintdef(c.oid))
                                  ORDER BY c.conname)
                        FILTER (WHERE c.contype = 'f'), '{}'),
               coalesce(array_agg(format('ALTER TABLE %s DROP CONSTRAINT %I',
                                         'inventory'::regclass, c.conname)
                                  ORDER BY c.contype <> 'f', c.conname), '{}')
          INTO key_add, fk_add, ddl_drop
          FROM pg_constraint c
         WHERE c.conrelid = 'inventory'::regclass AND c.contype IN ('p', 'u', 'f');
        SELECT coalesce(array_agg(pg_get_indexdef(i.indexrelid) ORDER BY i.indexrelid::regclass::text), '{}'),
               coalesce(array_agg(format('DROP INDEX %s', i.indexrelid::regclass)
                                  ORDER BY i.indexrelid::regclass::text), '{}')
          INTO idx_add, idx_drop
          FROM pg_index i
         WHERE i.indrelid = 'inventory'::regclass
           AND NOT EXISTS (SELECT 1 FROM pg_constraint c
                           WHERE c.conrelid = i.indrelid AND c.conindid = i.indexrelid);
        FOREACH t IN ARRAY ddl_drop || idx_drop LOOP
            EXECUTE t;
        END LOOP;
    END IF;

    INSERT INTO inventory (id, organization_id, part_id, location, current_stock,
                           minimum_stock_recommendation, reorder_threshold_set_by,
                           last_recommendation_update, created_at, updated_at)
    SELECT md5('inv-' || s)::uuid,
           org_ids[(s - 1) % n_org + 1],
           part_ids[(s - 1) / n_org + 1],
           CASE WHEN s % 97 = 0 THEN 'Rack ' || s END,
           CASE WHEN dirt AND s = least(2, n_inv) THEN -3
                WHEN s % 50 = 0 THEN 0
                ELSE 10 + s % 100 END,
           5 + s % 20,
           'system',
           NULL,
           ts, ts
    FROM generate_series(1, n_inv) AS s;

    IF fast THEN
        -- primary and unique keys, then the plain indexes, then the foreign keys
        FOREACH t IN ARRAY key_add || idx_add || fk_add LOOP
            EXECUTE t;
        END LOOP;
    END IF;

    -- supplier orders ----------------------------------------------------------------------
    INSERT INTO supplier_orders (id, ordering_organization_id, supplier_name, order_date,
                                 expected_delivery_date, actual_delivery_date, status, notes,
                                 created_at, updated_at)
    SELECT md5('supplier-order-' || s)::uuid,
           md5('org-1')::uuid,
           CASE WHEN n_sup > 0 THEN 'Supplier ' || ((s - 1) % n_sup + 1) || ' Ltd'
                ELSE 'AutoParts Ltd' END,
           ts - (s || ' days')::interval,
           ts - (s || ' days')::interval + interval '21 days',
           CASE WHEN s % 3 = 0 THEN ts - (s || ' days')::interval + interval '14 days' END,
           (ARRAY['Pending', 'Shipped', 'Delivered'])[(s - 1) % 3 + 1],
           'Generated supplier order ' || s,
           ts, ts
    FROM generate_series(1, greatest(1, n_org / 5)) AS s;

    INSERT INTO supplier_order_items (id, supplier_order_id, part_id, quantity, unit_price,
                                      created_at, updated_at)
    SELECT md5('supplier-order-item-' || s || '-' || l)::uuid,
           md5('supplier-order-' || s)::uuid,
           md5('part-' || (((s - 1) * 3 + l - 1) % n_prt + 1))::uuid,
           5 * l + s % 10,
           (10 * l + s % 7)::numeric(10, 2) + 0.50,
           ts, ts
    FROM generate_series(1, greatest(1, n_org / 5)) AS s, generate_series(1, 3) AS l
    WHERE n_prt >= 1;

    -- customer orders ----------------------------------------------------------------------
    WITH cus AS (
        SELECT s AS org, row_number() OVER (ORDER BY s) AS c
        FROM generate_series(2, n_org) AS s
        WHERE (s - 1) % 10 <> 2)
    INSERT INTO customer_orders (id, customer_organization_id, oraseas_organization_id,
                                 order_date, expected_delivery_date, actual_delivery_date,
                                 status, ordered_by_user_id, notes, created_at, updated_at)
    SELECT md5('customer-order-' || q)::uuid,
           md5('org-' || cus.org)::uuid,
           md5('org-1')::uuid,
           ts - (q || ' days')::interval,
           ts - (q || ' days')::interval + interval '7 days',
           NULL,
           (ARRAY['Pending', 'Shipped', 'Delivered'])[(q - 1) % 3 + 1],
           CASE WHEN cus.org <= n_usr THEN md5('user-' || cus.org)::uuid END,
           'Generated customer order ' || q,
           ts, ts
    FROM generate_series(1, CASE WHEN n_cus > 0 THEN greatest(1, n_org / 10) ELSE 0 END) AS q
    JOIN cus ON cus.c = (q - 1) % greatest(n_cus, 1) + 1
    ORDER BY q;

    INSERT INTO customer_order_items (id, customer_order_id, part_id, quantity, unit_price,
                                      created_at, updated_at)
    SELECT md5('customer-order-item-' || co.q || '-' || l)::uuid,
           md5('customer-order-' || co.q)::uuid,
           md5('part-' || (((co.q - 1) * 2 + l - 1) % n_prt + 1))::uuid,
           l + co.q % 4,
           (20 * l + co.q % 9)::numeric(10, 2) + 0.99,
           ts, ts
    FROM (SELECT q FROM generate_series(1, CASE WHEN n_cus > 0 THEN greatest(1, n_org / 10) ELSE 0 END) AS q) co,
         generate_series(1, 2) AS l
    WHERE n_prt >= 1;

    -- part usage ---------------------------------------------------------------------------
    -- machine q and its customer owner: q <= max(1, machines div 5), never the last machine
    -- when machines >= 2 (the one of Oraseas EE).
    WITH cus AS (
        SELECT s AS org, row_number() OVER (ORDER BY s) AS c
        FROM generate_series(2, n_org) AS s
        WHERE (s - 1) % 10 <> 2)
    INSERT INTO part_usage (id, customer_organization_id, part_id, usage_date, quantity_used,
                            machine_id, recorded_by_user_id, notes, created_at, updated_at)
    SELECT md5('part-usage-' || q)::uuid,
           md5('org-' || cus.org)::uuid,
           md5('part-' || ((q - 1) % n_prt + 1))::uuid,
           ts - (q || ' days')::interval,
           1 + q % 3,
           md5('machine-' || q)::uuid,
           CASE WHEN cus.org <= n_usr THEN md5('user-' || cus.org)::uuid END,
           'Generated part usage ' || q,
           ts, ts
    FROM generate_series(1, CASE WHEN n_cus > 0 AND n_prt >= 1 AND n_mch >= 1
                                 THEN greatest(1, n_mch / 5) ELSE 0 END) AS q
    JOIN cus ON cus.c = (q - 1) % greatest(n_cus, 1) + 1
    ORDER BY q;
END;
$fn$;
