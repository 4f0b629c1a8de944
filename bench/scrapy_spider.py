"""The Scrapy peer of the benchmark (Debian python3-scrapy 2.8).

Same rules as bench/job.ts: start at listing page 1, follow the pager and the product links of listing pages,
extract the same fields from product pages, 16 requests in flight, items to a JSON-lines feed.

    python3 bench/scrapy_spider.py '{"url": "http://127.0.0.1:PORT", "itemsFile": "/tmp/items.ndjson"}'

Prints `RESULT <json>` (wall time, CPU seconds during the crawl, peak RSS) on stdout.
"""

import json
import re
import resource
import sys
import time

import scrapy
from scrapy.crawler import CrawlerProcess

RATINGS = {"One": 1, "Two": 2, "Three": 3, "Four": 4, "Five": 5}
SPACES = re.compile(r"[\s\u00a0]+")
STOCK = re.compile(r"\((\d+) available\)")
RATING = re.compile(r"(One|Two|Three|Four|Five)")

STATE = {"pages": 0}


def collapse(text):
    return SPACES.sub(" ", text).strip()


def first_text(response, css):
    match = response.css(css)
    if not match:
        return None
    return collapse(match[0].xpath("string()").get())


def spec(response, name):
    # table.specs tr:has(th:contains(name)) td
    for row in response.css("table.specs tr"):
        if name in row.css("th").xpath("string()").get(""):
            cell = row.css("td")
            return collapse(cell[0].xpath("string()").get()) if cell else None
    return None


class BenchSpider(scrapy.Spider):
    name = "bench"

    def __init__(self, base_url, **kwargs):
        super().__init__(**kwargs)
        self.base_url = base_url

    def start_requests(self):
        # Filtered like every other request, so the pager's "first" link does not fetch page 1 again.
        yield scrapy.Request(self.base_url + "/catalogue/page-1.html", callback=self.parse)

    def parse(self, response):
        STATE["pages"] += 1
        for href in response.css("ul.pager a::attr(href)").getall():
            yield response.follow(href, callback=self.parse)
        for href in response.css("article.product_pod h3 a::attr(href)").getall():
            yield response.follow(href, callback=self.parse_product)

    def parse_product(self, response):
        STATE["pages"] += 1
        availability = first_text(response, "div.product_main p.availability") or ""
        stock = STOCK.search(availability)
        rating = RATING.search(response.css("div.product_main p.star-rating::attr(class)").get(""))
        price = first_text(response, "div.product_main p.price_color")
        reviews = spec(response, "Number of reviews")
        yield {
            "sku": spec(response, "SKU"),
            "title": first_text(response, "div.product_main h1"),
            "price": float(re.sub(r"[^\d.]", "", price)) if price is not None else None,
            "inStock": True
            if availability.startswith("In stock")
            else (False if availability.startswith("Out of stock") else None),
            "stock": int(stock.group(1)) if stock else 0,
            "rating": RATINGS.get(rating.group(1)) if rating else None,
            "category": first_text(response, "ul.breadcrumb li:nth-child(2) a"),
            "tags": [collapse(tag.xpath("string()").get()) for tag in response.css("ul.tags li.tag")],
            "reviews": int(reviews) if reviews is not None else None,
            "url": response.url,
        }


def main():
    args = json.loads(sys.argv[1])
    process = CrawlerProcess(
        settings={
            "CONCURRENT_REQUESTS": 16,
            "CONCURRENT_REQUESTS_PER_DOMAIN": 16,
            "DOWNLOAD_DELAY": 0,
            "ROBOTSTXT_OBEY": False,
            "RETRY_TIMES": 2,
            "LOG_LEVEL": "WARNING",
            "TELNETCONSOLE_ENABLED": False,
            "REQUEST_FINGERPRINTER_IMPLEMENTATION": "2.7",
            "FEEDS": {args["itemsFile"]: {"format": "jsonlines", "encoding": "utf8", "overwrite": True}},
        }
    )
    process.crawl(BenchSpider, base_url=args["url"])
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    process.start()
    wall_ms = (time.perf_counter() - started) * 1000
    after = resource.getrusage(resource.RUSAGE_SELF)
    result = {
        "tool": "scrapy",
        "wallMs": wall_ms,
        "cpuSeconds": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "maxRssMb": round(after.ru_maxrss / 1024),
        "pages": STATE["pages"],
        "itemsFile": args["itemsFile"],
        "detail": {"scrapy": scrapy.__version__},
    }
    sys.stdout.write("RESULT " + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
