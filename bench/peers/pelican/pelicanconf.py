# Pelican peer: feeds only, as far as Pelican allows. The site feed and one
# feed per category, Atom and RSS, 50 newest items, full content; every page
# kind is switched off (an empty *_SAVE_AS writes nothing). Pelican gives an
# article one category: bench/convert.py keeps each entry's first one.
AUTHOR = "Bench"
SITENAME = "Bench"
SITEURL = "https://bench.example.org"
FEED_DOMAIN = SITEURL
TIMEZONE = "UTC"
DEFAULT_LANG = "en"
DEFAULT_DATE_FORMAT = "%Y-%m-%d"

FEED_ALL_ATOM = "feeds/all.atom.xml"
FEED_ALL_RSS = "feeds/all.rss.xml"
CATEGORY_FEED_ATOM = "feeds/{slug}.atom.xml"
CATEGORY_FEED_RSS = "feeds/{slug}.rss.xml"
FEED_ATOM = None
FEED_RSS = None
TAG_FEED_ATOM = None
TAG_FEED_RSS = None
AUTHOR_FEED_ATOM = None
AUTHOR_FEED_RSS = None
TRANSLATION_FEED_ATOM = None
TRANSLATION_FEED_RSS = None
FEED_MAX_ITEMS = 50
RSS_FEED_SUMMARY_ONLY = False
WITH_FUTURE_DATES = False

# No pages.
ARTICLE_SAVE_AS = ""
ARTICLE_LANG_SAVE_AS = ""
DRAFT_SAVE_AS = ""
DRAFT_LANG_SAVE_AS = ""
PAGE_SAVE_AS = ""
PAGE_LANG_SAVE_AS = ""
DRAFT_PAGE_SAVE_AS = ""
DRAFT_PAGE_LANG_SAVE_AS = ""
CATEGORY_SAVE_AS = ""
TAG_SAVE_AS = ""
AUTHOR_SAVE_AS = ""
ARCHIVES_SAVE_AS = ""
YEAR_ARCHIVE_SAVE_AS = ""
MONTH_ARCHIVE_SAVE_AS = ""
DAY_ARCHIVE_SAVE_AS = ""
AUTHORS_SAVE_AS = ""
CATEGORIES_SAVE_AS = ""
TAGS_SAVE_AS = ""
INDEX_SAVE_AS = ""
DIRECT_TEMPLATES = []
PAGINATED_TEMPLATES = {}
DEFAULT_PAGINATION = False
PAGE_PATHS = []
STATIC_PATHS = []
THEME_STATIC_PATHS = []

# A cold build every time, like the other runs.
LOAD_CONTENT_CACHE = False
CACHE_CONTENT = False
DELETE_OUTPUT_DIRECTORY = True
TYPOGRIFY = False
PLUGINS = []
