"""The pure core: workflow definition, guidelines, guards, timer planning, calendar.

Nothing here touches a database, reads a clock, prints or logs.
"""
