//! The part of a List Blobs answer we read: names, ETag, Last-Modified, metadata, NextMarker.
//! See <https://learn.microsoft.com/rest/api/storageservices/list-blobs#response-body>.

use std::time::SystemTime;

use quick_xml::Reader;
use quick_xml::events::Event;

/// One `<Blob>` of a listing.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct ListedBlob {
    pub name: String,
    /// As listed; normalised to the quoted header form by the caller.
    pub etag: Option<String>,
    pub last_modified: Option<SystemTime>,
    /// Metadata names as stored (the service keeps their case), values as stored.
    pub metadata: Vec<(String, String)>,
}

/// One page of a listing.
#[derive(Debug, Default)]
pub(crate) struct ListPage {
    pub blobs: Vec<ListedBlob>,
    /// Empty or absent = last page.
    pub next_marker: Option<String>,
}

/// Parses one page. `Err` carries a short reason (never the document itself).
pub(crate) fn parse_list(xml: &str) -> Result<ListPage, String> {
    let mut reader = Reader::from_str(xml);
    let mut page = ListPage::default();
    let mut path: Vec<String> = Vec::new();
    let mut text = String::new();
    let mut blob: Option<ListedBlob> = None;
    loop {
        match reader.read_event() {
            Err(e) => {
                return Err(format!(
                    "malformed XML at byte {}: {e}",
                    reader.buffer_position()
                ));
            }
            Ok(Event::Eof) => break,
            Ok(Event::Start(e)) => {
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if name == "Blob" && path.last().is_some_and(|p| p == "Blobs") {
                    blob = Some(ListedBlob::default());
                }
                path.push(name);
                text.clear();
            }
            Ok(Event::Empty(e)) => {
                // `<ownerid />`: a metadata entry with an empty value (a relinquished claim).
                let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                if let Some(b) = blob.as_mut()
                    && path.last().is_some_and(|p| p == "Metadata")
                {
                    b.metadata.push((name, String::new()));
                }
            }
            Ok(Event::Text(t)) => {
                text.push_str(&t.decode().map_err(|e| format!("bad text encoding: {e}"))?);
            }
            Ok(Event::CData(t)) => {
                text.push_str(&t.decode().map_err(|e| format!("bad text encoding: {e}"))?);
            }
            Ok(Event::GeneralRef(r)) => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    text.push(c);
                } else {
                    let name = r.decode().map_err(|e| format!("bad entity: {e}"))?;
                    text.push(match name.as_ref() {
                        "amp" => '&',
                        "lt" => '<',
                        "gt" => '>',
                        "quot" => '"',
                        "apos" => '\'',
                        other => return Err(format!("unknown entity &{other};")),
                    });
                }
            }
            Ok(Event::End(_)) => {
                let Some(name) = path.pop() else {
                    return Err("unbalanced end tag".into());
                };
                let parent = path.last().map(String::as_str);
                let value = std::mem::take(&mut text);
                match (parent, name.as_str()) {
                    (Some("Blobs"), "Blob") => {
                        if let Some(b) = blob.take() {
                            page.blobs.push(b);
                        }
                    }
                    (Some("Blob"), "Name") => {
                        if let Some(b) = blob.as_mut() {
                            b.name = value;
                        }
                    }
                    (Some("Properties"), "Etag") => {
                        if let Some(b) = blob.as_mut() {
                            b.etag = Some(value);
                        }
                    }
                    (Some("Properties"), "Last-Modified") => {
                        if let Some(b) = blob.as_mut() {
                            let t = httpdate::parse_http_date(value.trim())
                                .map_err(|_| format!("bad Last-Modified {value:?}"))?;
                            b.last_modified = Some(t);
                        }
                    }
                    (Some("Metadata"), key) => {
                        if let Some(b) = blob.as_mut() {
                            b.metadata.push((key.to_string(), value));
                        }
                    }
                    (Some("EnumerationResults"), "NextMarker") if !value.is_empty() => {
                        page.next_marker = Some(value);
                    }
                    _ => {}
                }
            }
            Ok(_) => {}
        }
    }
    Ok(page)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_shape() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<EnumerationResults ServiceEndpoint="http://127.0.0.1/devstoreaccount1" ContainerName="c">
  <Prefix>ns/hub/$default/ownership/</Prefix>
  <Blobs>
    <Blob>
      <Name>ns/hub/$default/ownership/0</Name>
      <Properties>
        <Last-Modified>Wed, 09 Sep 2009 09:20:02 GMT</Last-Modified>
        <Etag>0x8CBFF45D8A29A19</Etag>
        <Content-Length>0</Content-Length>
      </Properties>
      <Metadata><ownerid>a&amp;b</ownerid><Other>x</Other></Metadata>
    </Blob>
    <Blob>
      <Name>ns/hub/$default/ownership/1</Name>
      <Properties><Etag>&quot;0x1&quot;</Etag></Properties>
      <Metadata><ownerid /></Metadata>
    </Blob>
  </Blobs>
  <NextMarker>2!84!abc</NextMarker>
</EnumerationResults>"#;
        let page = parse_list(xml).unwrap();
        assert_eq!(page.blobs.len(), 2);
        assert_eq!(page.blobs[0].name, "ns/hub/$default/ownership/0");
        assert_eq!(page.blobs[0].etag.as_deref(), Some("0x8CBFF45D8A29A19"));
        assert_eq!(
            page.blobs[0].last_modified,
            Some(httpdate::parse_http_date("Wed, 09 Sep 2009 09:20:02 GMT").unwrap())
        );
        assert_eq!(
            page.blobs[0].metadata,
            vec![
                ("ownerid".into(), "a&b".into()),
                ("Other".into(), "x".into())
            ]
        );
        assert_eq!(page.blobs[1].etag.as_deref(), Some("\"0x1\""));
        assert_eq!(
            page.blobs[1].metadata,
            vec![("ownerid".into(), String::new())]
        );
        assert_eq!(page.next_marker.as_deref(), Some("2!84!abc"));
    }

    #[test]
    fn empty_listing_and_garbage() {
        let page =
            parse_list("<EnumerationResults><Blobs /><NextMarker /></EnumerationResults>").unwrap();
        assert!(page.blobs.is_empty() && page.next_marker.is_none());
        assert!(parse_list("<a><b></a>").is_err());
    }
}
