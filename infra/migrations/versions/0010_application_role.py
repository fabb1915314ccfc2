"""The application role: the functions read and write rows, only the migration step changes the schema.

Creates this database's group role ``<database>_application`` with row access to every table (and,
by default privileges, to the tables later migrations create), and revokes ``PUBLIC``'s privileges
on the database and ``CREATE`` on schema ``public``. The migration step then makes the login role of
the application secret a member (shop_marketing.database_roles).

Revision ID: 0010_application_role
Revises: 0009_reviews
"""

from alembic import op

from shop_marketing.database_roles import create_application_group, drop_application_group

revision = "0010_application_role"
down_revision = "0009_reviews"
branch_labels = None
depends_on = None


def upgrade() -> None:
    create_application_group(op.get_bind())


def downgrade() -> None:
    drop_application_group(op.get_bind())
