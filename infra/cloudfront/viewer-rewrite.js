// CloudFront Function (cloudfront-js-2.0), viewer request, on the /e/* cache behaviour.
// Every explorer URL (/e/<id>/, /e/<id>, any query string) is one static page: the viewer,
// stored at viewer/index.html in the exports bucket. The page resolves its own URL through the
// meta API and loads its modules from /viewer/ by absolute paths, so nothing under /e/ is a
// file of its own. template.yaml inlines this file; tests/unit/test_template.py keeps the two
// identical.
function handler(event) {
  var request = event.request;
  request.uri = '/viewer/index.html';
  return request;
}
